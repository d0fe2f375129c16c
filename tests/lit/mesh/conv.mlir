// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// mesh.conv2d (bias optional) and mesh.pool2d round-trip. Activations are split [_, _, r, c]
// (H over the grid's rows, W over its columns), the weight and bias replicated on the same
// grid; PE (i, j) computes output block (i, j).

// CHECK-LABEL: func.func @conv
// CHECK-NEXT:    %0 = mesh.conv2d %x, %w, %b stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 4x4 split [_, _, _, _]>, !mesh.tensor<4xf32 on 4x4 split [_]>) -> !mesh.tensor<1x4x13x11xf32 on 4x4 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.conv2d %x, %w stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 4x4 split [_, _, _, _]>) -> !mesh.tensor<1x4x6x5xf32 on 4x4 split [_, _, r, c]>
func.func @conv(%x: !mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]>, %w: !mesh.tensor<4x3x3x3xf32 on 4x4 split [_, _, _, _]>, %b: !mesh.tensor<4xf32 on 4x4 split [_]>) -> (!mesh.tensor<1x4x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<1x4x6x5xf32 on 4x4 split [_, _, r, c]>) {
  %0 = mesh.conv2d %x, %w, %b stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 4x4 split [_, _, _, _]>, !mesh.tensor<4xf32 on 4x4 split [_]>) -> !mesh.tensor<1x4x13x11xf32 on 4x4 split [_, _, r, c]>
  %1 = mesh.conv2d %x, %w stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 4x4 split [_, _, _, _]>) -> !mesh.tensor<1x4x6x5xf32 on 4x4 split [_, _, r, c]>
  func.return %0, %1 : !mesh.tensor<1x4x13x11xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<1x4x6x5xf32 on 4x4 split [_, _, r, c]>
}

// The channel-split form (told apart by the weight's split): input and result channels over
// the grid's columns, H over its rows, W whole; the output channels' filters split over the
// columns like the result's channels.
// CHECK-LABEL: func.func @channel_split
// CHECK-NEXT:    %0 = mesh.conv2d %x, %w, %b stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>, !mesh.tensor<7xf32 on 3x4 split [c]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>
func.func @channel_split(%x: !mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, %w: !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>, %b: !mesh.tensor<7xf32 on 3x4 split [c]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]> {
  %0 = mesh.conv2d %x, %w, %b stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x5x11x9xf32 on 3x4 split [_, c, r, _]>, !mesh.tensor<7x5x3x3xf32 on 3x4 split [c, _, _, _]>, !mesh.tensor<7xf32 on 3x4 split [c]>) -> !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>
  func.return %0 : !mesh.tensor<2x7x11x9xf32 on 3x4 split [_, c, r, _]>
}

// CHECK-LABEL: func.func @pool
// CHECK-NEXT:    %0 = mesh.pool2d max %x kernel [3, 3] stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]> -> !mesh.tensor<1x3x7x6xf32 on 2x3 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.pool2d avg %x kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]> -> !mesh.tensor<1x3x6x5xf32 on 2x3 split [_, _, r, c]>
func.func @pool(%x: !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]>) -> (!mesh.tensor<1x3x7x6xf32 on 2x3 split [_, _, r, c]>, !mesh.tensor<1x3x6x5xf32 on 2x3 split [_, _, r, c]>) {
  %0 = mesh.pool2d max %x kernel [3, 3] stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]> -> !mesh.tensor<1x3x7x6xf32 on 2x3 split [_, _, r, c]>
  %1 = mesh.pool2d avg %x kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]> -> !mesh.tensor<1x3x6x5xf32 on 2x3 split [_, _, r, c]>
  func.return %0, %1 : !mesh.tensor<1x3x7x6xf32 on 2x3 split [_, _, r, c]>, !mesh.tensor<1x3x6x5xf32 on 2x3 split [_, _, r, c]>
}
