// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of mesh.conv2d_weight_grad, one case per split-input-file chunk.

// CHECK: 'mesh.conv2d_weight_grad' input must be 4-D and split [_, _, r, c], got 1x3x8x8 on 2x2 split [r, _, _, _]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [r, _, _, _]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [r, _, _, _]>, !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>) -> !mesh.tensor<2x2x4x3x3x3xf32 on 2x2 split [r, c, _, _, _, _]>

// -----

// CHECK: 'mesh.conv2d_weight_grad' grad should be 1x4x8x8 on 2x2 split [_, _, r, c], got 1x4x8x8 on 1x1 split [_, _, _, _]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 1x1 split [_, _, _, _]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<1x4x8x8xf32 on 1x1 split [_, _, _, _]>) -> !mesh.tensor<2x2x4x3x3x3xf32 on 2x2 split [r, c, _, _, _, _]>

// -----

// CHECK: 'mesh.conv2d_weight_grad' result should be 2x2x4x3x3x3 on 2x2 split [r, c, _, _, _, _], got 2x2x4x3x3x3 on 2x2 split [_, _, _, _, _, _]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>) -> !mesh.tensor<2x2x4x3x3x3xf32 on 2x2 split [_, _, _, _, _, _]>

// -----

// CHECK: 'mesh.conv2d_weight_grad' with (R, O, C, kh, kw) partials needs the input split [_, c, r, _], got 1x3x8x8 on 2x2 split [_, _, r, c]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>) -> !mesh.tensor<2x4x3x3x3xf32 on 2x2 split [r, c, _, _, _]>

// -----

// CHECK: the channel-split mesh.conv2d_weight_grad takes groups 1, got 2
%x = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, c, r, _]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, c, r, _]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 2 : (!mesh.tensor<1x4x8x8xf32 on 2x2 split [_, c, r, _]>, !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, c, r, _]>) -> !mesh.tensor<2x4x2x3x3xf32 on 2x2 split [r, c, _, _, _]>

// -----

// CHECK: conv2d_weight_grad: the gradient of a conv2d of input [1, 3, 8, 8] with a 3x3 kernel has shape [1, 4, 8, 8], got [1, 4, 6, 6]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x6x6xf32 on 2x2 split [_, _, r, c]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<1x4x6x6xf32 on 2x2 split [_, _, r, c]>) -> !mesh.tensor<2x2x4x3x3x3xf32 on 2x2 split [r, c, _, _, _, _]>

// -----

// CHECK: 'mesh.conv2d_weight_grad' halo along the grid's rows exceeds a neighbour's block
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 8x1 split [_, _, r, _]>
%dy = "test.op"() : () -> !mesh.tensor<1x4x8x8xf32 on 8x1 split [_, _, r, _]>
%0 = mesh.conv2d_weight_grad %x, %dy kernel [5, 5] stride [1, 1] padding [2, 2, 2, 2] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 8x1 split [_, _, r, _]>, !mesh.tensor<1x4x8x8xf32 on 8x1 split [_, _, r, _]>) -> !mesh.tensor<8x1x4x3x5x5xf32 on 8x1 split [r, c, _, _, _, _]>
