// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// conv2d and the pools run on a grid with the activations split [_, _, r, c] and the weight
// and bias replicated on every PE of it; a groups-1 conv2d may instead run channel-split
// (activations [_, c, r, _], filters [c, _, _, _]) when the cost model estimates it faster or
// only it fits. The grid is the input's (or the result's grid hint),
// with at most one PE per output row/column, and fewer PEs along an axis whose halo would reach
// past a neighbour's block. Block padding that windows read is masked: 0 for conv and average
// pooling, -inf for max pooling; a host input's or a redistribution's tiles already hold 0 there
// (no mask_pad to 0).

builtin.module attributes {pf.target = #pf.target<"small">} {

// The input's 4x4 grid; 13x11 leaves block padding (blocks of 4x3) that the padded windows read.
// The cost model estimates the channel-split form faster here (halos along the rows only, the
// FMACs over whole output rows), so the input moves to [_, c, r, _] and the filters are split
// over the columns.
// CHECK-LABEL: func.func @conv
// CHECK-NEXT:    %0 = mesh.scatter %x : tensor<1x3x13x11xf32> -> !mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<1x3x13x11xf32 on 4x4 split [_, _, r, c]> -> !mesh.tensor<1x3x13x11xf32 on 4x4 split [_, c, r, _]>
// CHECK-NEXT:    %2 = mesh.scatter %w : tensor<4x3x3x3xf32> -> !mesh.tensor<4x3x3x3xf32 on 4x4 split [c, _, _, _]>
// CHECK-NEXT:    %3 = mesh.scatter %b : tensor<4xf32> -> !mesh.tensor<4xf32 on 4x4 split [c]>
// CHECK-NEXT:    %4 = mesh.conv2d %1, %2, %3 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x13x11xf32 on 4x4 split [_, c, r, _]>, !mesh.tensor<4x3x3x3xf32 on 4x4 split [c, _, _, _]>, !mesh.tensor<4xf32 on 4x4 split [c]>) -> !mesh.tensor<1x4x13x11xf32 on 4x4 split [_, c, r, _]>
// CHECK-NEXT:    %5 = mesh.gather %4
  func.func @conv(%x: tensor<1x3x13x11xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x13x11xf32> {
    %0 = flame.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x13x11xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x13x11xf32>
    func.return %0 : tensor<1x4x13x11xf32>
  }

// 64 -> 64 channels: the filter bank (144 KiB) fits no PE, replicated. Channel-split on the
// input's 8x8 grid: 8 filters (18 KiB) per PE column.
// CHECK-LABEL: func.func @many_channels
// CHECK:         mesh.conv2d {{.*}} : (!mesh.tensor<1x64x16x16xf32 on 8x8 split [_, c, r, _]>, !mesh.tensor<64x64x3x3xf32 on 8x8 split [c, _, _, _]>) -> !mesh.tensor<1x64x16x16xf32 on 8x8 split [_, c, r, _]>
  func.func @many_channels(%x: tensor<1x64x16x16xf32> {flame.layout = #flame.layout<grid [8, 8]>}, %w: tensor<64x64x3x3xf32>) -> tensor<1x64x16x16xf32> {
    %0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x64x16x16xf32>, tensor<64x64x3x3xf32>) -> tensor<1x64x16x16xf32>
    func.return %0 : tensor<1x64x16x16xf32>
  }

// A valid conv reads no padding: no mask. A row-partitioned input (the batch over 4 PEs) is
// redistributed to the spatial split on the same 4x1 grid.
// CHECK-LABEL: func.func @partitioned_input
// CHECK-NEXT:    %0 = mesh.scatter %x : tensor<4x3x13x11xf32> -> !mesh.tensor<4x3x13x11xf32 on 4x1 split [r, _, _, _]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<4x3x13x11xf32 on 4x1 split [r, _, _, _]> -> !mesh.tensor<4x3x13x11xf32 on 4x1 split [_, _, r, c]>
// CHECK-NEXT:    %2 = mesh.scatter %w : tensor<4x3x3x3xf32> -> !mesh.tensor<4x3x3x3xf32 on 4x1 split [_, _, _, _]>
// CHECK-NEXT:    %3 = mesh.conv2d %1, %2 {{.*}} -> !mesh.tensor<4x4x11x9xf32 on 4x1 split [_, _, r, c]>
  func.func @partitioned_input(%x: tensor<4x3x13x11xf32> {flame.layout = #flame.layout<row_partition [4]>}, %w: tensor<4x3x3x3xf32>) -> tensor<4x4x11x9xf32> {
    %0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<4x3x13x11xf32>, tensor<4x3x3x3xf32>) -> tensor<4x4x11x9xf32>
    func.return %0 : tensor<4x4x11x9xf32>
  }

// One row per PE on 8 PE rows and a 5x5 kernel would need rows two PEs away: the rows use 7
// PEs (blocks of 2), the columns all 4 (blocks of 2 of the 8 columns, padding 2 each side).
// CHECK-LABEL: func.func @halo_too_wide
// CHECK-NEXT:    %0 = mesh.scatter %x : tensor<1x1x8x8xf32> -> !mesh.tensor<1x1x8x8xf32 on 8x4 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<1x1x8x8xf32 on 8x4 split [_, _, r, c]> -> !mesh.tensor<1x1x8x8xf32 on 7x4 split [_, _, r, c]>
// CHECK-NOT:     mesh.mask_pad
// CHECK:         mesh.conv2d {{.*}} -> !mesh.tensor<1x1x8x8xf32 on 7x4 split [_, _, r, c]>
  func.func @halo_too_wide(%x: tensor<1x1x8x8xf32> {flame.layout = #flame.layout<grid [8, 4]>}, %w: tensor<1x1x5x5xf32>) -> tensor<1x1x8x8xf32> {
    %0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 2, 2, 2, 2>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x8x8xf32>, tensor<1x1x5x5xf32>) -> tensor<1x1x8x8xf32>
    func.return %0 : tensor<1x1x8x8xf32>
  }

// A tensor on one PE is already split [_, _, r, c] on a 1x1 grid: used as it is, and the result
// is split like it.
// CHECK-LABEL: func.func @single
// CHECK-NEXT:    %0 = mesh.scatter %x : tensor<1x2x6x6xf32> -> !mesh.tensor<1x2x6x6xf32 on 1x1 split [_, _, _, _]>
// CHECK-NEXT:    %1 = mesh.pool2d max %0 {{.*}} : !mesh.tensor<1x2x6x6xf32 on 1x1 split [_, _, _, _]> -> !mesh.tensor<1x2x3x3xf32 on 1x1 split [_, _, _, _]>
  func.func @single(%x: tensor<1x2x6x6xf32> {flame.layout = #flame.layout<single>}) -> tensor<1x2x3x3xf32> {
    %0 = flame.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>} : tensor<1x2x6x6xf32> -> tensor<1x2x3x3xf32>
    func.return %0 : tensor<1x2x3x3xf32>
  }

// max pooling masks with -inf; average pooling without count_include_pad divides by the
// average pooling of ones (the count of input elements per window); `divisor` scales.
// CHECK-LABEL: func.func @pools
// CHECK-NEXT:    %0 = mesh.scatter %x : tensor<1x3x13x11xf32> -> !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.mask_pad %0 value 0xfff0000000000000 : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]>
// CHECK-NEXT:    %2 = mesh.pool2d max %1 kernel [3, 3] stride [2, 2] padding [1, 1, 1, 1] dilation [1, 1] : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]> -> !mesh.tensor<1x3x7x6xf32 on 2x3 split [_, _, r, c]>
// CHECK-NEXT:    %3 = mesh.pool2d avg %0 {{.*}} -> !mesh.tensor<1x3x7x6xf32 on 2x3 split [_, _, r, c]>
// CHECK-NEXT:    %4 = mesh.fill 1.000000e+00 : !mesh.tensor<1x3x13x11xf32 on 2x3 split [_, _, r, c]>
// CHECK-NEXT:    %5 = mesh.mask_pad %4 value 0.000000e+00
// CHECK-NEXT:    %6 = mesh.pool2d avg %5
// CHECK-NEXT:    %7 = mesh.binary div %3, %6
// CHECK-NEXT:    %8 = mesh.pool2d avg %0 kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1]
// CHECK-NEXT:    %9 = mesh.unary scale %8 by 8.000000e-01
  func.func @pools(%x: tensor<1x3x13x11xf32> {flame.layout = #flame.layout<grid [2, 3]>}) -> (tensor<1x3x7x6xf32>, tensor<1x3x7x6xf32>, tensor<1x3x6x5xf32>) {
    %0 = flame.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>} : tensor<1x3x13x11xf32> -> tensor<1x3x7x6xf32>
    %1 = flame.avg_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>} : tensor<1x3x13x11xf32> -> tensor<1x3x7x6xf32>
    %2 = flame.avg_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, divisor = 5 : i64} : tensor<1x3x13x11xf32> -> tensor<1x3x6x5xf32>
    func.return %0, %1, %2 : tensor<1x3x7x6xf32>, tensor<1x3x7x6xf32>, tensor<1x3x6x5xf32>
  }
}
