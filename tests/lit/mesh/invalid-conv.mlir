// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of mesh.conv2d and mesh.pool2d, one case per split-input-file chunk.

// CHECK: 'mesh.conv2d' input must be 4-D and split [_, _, r, c], got 1x3x8x8 on 2x2 split [r, _, _, _]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [r, _, _, _]>
%w = "test.op"() : () -> !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [r, _, _, _]>, !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>) -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>

// -----

// CHECK: conv2d weight must be replicated on the input's grid, got 4x3x3x3 on 1x1 split [_, _, _, _]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<4x3x3x3xf32 on 1x1 split [_, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 1x1 split [_, _, _, _]>) -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>

// -----

// CHECK: conv2d bias must be replicated on the input's grid, got 4 on 2x2 split [c]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>
%b = "test.op"() : () -> !mesh.tensor<4xf32 on 2x2 split [c]>
%0 = mesh.conv2d %x, %w, %b stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>, !mesh.tensor<4xf32 on 2x2 split [c]>) -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>

// -----

// CHECK: 'mesh.conv2d' result should be 1x4x8x8 on 2x2 split [_, _, r, c], got 1x4x8x8 on 1x1 split [_, _, r, c]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>) -> !mesh.tensor<1x4x8x8xf32 on 1x1 split [_, _, r, c]>

// -----

// CHECK: conv2d: input [1, 3, 8, 8] has 3 channels but weight [4, 4, 3, 3] with groups=1 expects 4
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<4x4x3x3xf32 on 2x2 split [_, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<4x4x3x3xf32 on 2x2 split [_, _, _, _]>) -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>

// -----

// One row per PE and a 5x5 kernel: PE 0 would need rows of PE 2.
// CHECK: 'mesh.conv2d' halo along the grid's rows exceeds a neighbour's block: PE 0 of 8 needs input [0, 3) but holds [0, 1) and its neighbours reach only [0, 2); use fewer PEs along that axis
%x = "test.op"() : () -> !mesh.tensor<1x1x8x8xf32 on 8x1 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<1x1x5x5xf32 on 8x1 split [_, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [2, 2, 2, 2] dilation [1, 1] groups 1 : (!mesh.tensor<1x1x8x8xf32 on 8x1 split [_, _, r, c]>, !mesh.tensor<1x1x5x5xf32 on 8x1 split [_, _, _, _]>) -> !mesh.tensor<1x1x8x8xf32 on 8x1 split [_, _, r, c]>

// -----

// CHECK: 'mesh.conv2d' needs one element type, got ['f16', 'f32']
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<4x3x3x3xf16 on 2x2 split [_, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf16 on 2x2 split [_, _, _, _]>) -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>

// -----

// CHECK: Expected `max`, or `avg`.
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%0 = mesh.pool2d min %x kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] : !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]> -> !mesh.tensor<1x3x4x4xf32 on 2x2 split [_, _, r, c]>

// -----

// CHECK: 'mesh.pool2d' result should be 1x3x4x4 on 2x2 split [_, _, r, c], got 1x3x5x4 on 2x2 split [_, _, r, c]
%x = "test.op"() : () -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
%0 = mesh.pool2d max %x kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] : !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]> -> !mesh.tensor<1x3x5x4xf32 on 2x2 split [_, _, r, c]>

// -----

// CHECK: pool2d: input [1, 3, 1, 8] padded by [0, 0, 0, 0] (top, bottom, left, right) is 1x8, smaller than the (dilated) kernel 2x2
%x = "test.op"() : () -> !mesh.tensor<1x3x1x8xf32 on 1x2 split [_, _, r, c]>
%0 = mesh.pool2d max %x kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] : !mesh.tensor<1x3x1x8xf32 on 1x2 split [_, _, r, c]> -> !mesh.tensor<1x3x1x4xf32 on 1x2 split [_, _, r, c]>

// -----

// CHECK: 'mesh.conv2d' with a channel-split weight needs the input split [_, c, r, _], got 2x5x11x9 on 3x4 split [_, _, r, c]
%x = "test.op"() : () -> !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, _, r, c]>
%w = "test.op"() : () -> !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, _, r, c]>, !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>

// -----

// CHECK: channel-split conv2d weight must be split [c, _, _, _] on the input's grid, got 7x5x3x3 on 2x4 split [c, _, _, _]
%x = "test.op"() : () -> !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>
%w = "test.op"() : () -> !mesh.tensor<7x5x3x3xf32 on 2x4 split [c, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<7x5x3x3xf32 on 2x4 split [c, _, _, _]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>

// -----

// CHECK: channel-split conv2d bias must be split [c] on the input's grid, got 7 on 3x4 split [_]
%x = "test.op"() : () -> !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>
%w = "test.op"() : () -> !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>
%b = "test.op"() : () -> !mesh.tensor<7xf32 on 3x4 split [_]>
%0 = mesh.conv2d %x, %w, %b stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>, !mesh.tensor<7xf32 on 3x4 split [_]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>

// -----

// CHECK: the channel-split conv2d takes groups 1, got 5
%x = "test.op"() : () -> !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>
%w = "test.op"() : () -> !mesh.tensor<10x1x3x3xf32 on 3x4 split [c, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 5 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<10x1x3x3xf32 on 3x4 split [c, _, _, _]>) -> !mesh.tensor<2x10x11x9xf32 on 3x4 split [_, c, r, _]>

// -----

// CHECK: 'mesh.conv2d' result should be 2x7x11x9 on 3x4 split [_, c, r, _], got 2x7x11x9 on 3x4 split [_, _, r, c]
%x = "test.op"() : () -> !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>
%w = "test.op"() : () -> !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>
%0 = mesh.conv2d %x, %w stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, _, r, c]>
