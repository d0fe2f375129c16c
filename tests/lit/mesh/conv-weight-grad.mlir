// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// mesh.conv2d_weight_grad round-trips in both forms. Its result holds one partial weight
// gradient per PE (summed over the grid by a mesh.allreduce): spatial, input and grad split
// [_, _, r, c], each PE's whole [O, C/groups, kh, kw] partial (R, C, O, C/g, kh, kw); channel-split,
// input and grad split [_, c, r, _], PE (i, j) the partial of its output channels' filters
// (R, O, C, kh, kw split [r, c, _, _, _]).

// CHECK-LABEL: func.func @spatial
// CHECK-NEXT:    %0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x3x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<2x4x13x11xf32 on 4x4 split [_, _, r, c]>) -> !mesh.tensor<4x4x4x3x3x3xf32 on 4x4 split [r, c, _, _, _, _]>
func.func @spatial(%x: !mesh.tensor<2x3x13x11xf32 on 4x4 split [_, _, r, c]>, %dy: !mesh.tensor<2x4x13x11xf32 on 4x4 split [_, _, r, c]>) -> !mesh.tensor<4x4x4x3x3x3xf32 on 4x4 split [r, c, _, _, _, _]> {
  %0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x3x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<2x4x13x11xf32 on 4x4 split [_, _, r, c]>) -> !mesh.tensor<4x4x4x3x3x3xf32 on 4x4 split [r, c, _, _, _, _]>
  func.return %0 : !mesh.tensor<4x4x4x3x3x3xf32 on 4x4 split [r, c, _, _, _, _]>
}

// CHECK-LABEL: func.func @channel_split
// CHECK-NEXT:    %0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>) -> !mesh.tensor<3x7x5x3x3xf32 on 3x4 split [r, c, _, _, _]>
func.func @channel_split(%x: !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, %dy: !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>) -> !mesh.tensor<3x7x5x3x3xf32 on 3x4 split [r, c, _, _, _]> {
  %0 = mesh.conv2d_weight_grad %x, %dy kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>) -> !mesh.tensor<3x7x5x3x3xf32 on 3x4 split [r, c, _, _, _]>
  func.return %0 : !mesh.tensor<3x7x5x3x3xf32 on 3x4 split [r, c, _, _, _]>
}
