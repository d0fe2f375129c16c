// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// A reduction is a local reduce on every PE, then an allreduce along the mesh axes the reduced
// dims were split over; here only the host reads the results, so it is a mesh.reduce (no
// broadcast back: the result lives on PE row/column 0) with the cost model's algorithm. Padding in a reduced dim is masked to 0 first; without padding (or over
// an unsplit dim, or a host input's tiles, which hold zeros there) there is no mask_pad. Without keepdim a local reshape drops the size-1 dims.
// reduce_mean scales the sum by 1/count.

builtin.module attributes {pf.target = #pf.target<"small">} {

// 10 rows over 4 PE rows: blocks of 3, 2 padding rows, where exp wrote 1: masked to 0.
// CHECK-LABEL: func.func @split_dim_padded
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<10x12xf32> -> !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.unary exp %0 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.mask_pad %1 value 0.000000e+00 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %3 = mesh.local_reduce sum %2 dims [0] : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %4 = mesh.reduce sum %3 dims [0] algorithm chain : !mesh.tensor<4x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x12xf32 on 1x4 split [_, c]>
// CHECK-NEXT:    %5 = mesh.reshape %4 : !mesh.tensor<1x12xf32 on 1x4 split [_, c]> -> !mesh.tensor<12xf32 on 1x4 split [c]>
// CHECK-NEXT:    %6 = mesh.gather %5 : !mesh.tensor<12xf32 on 1x4 split [c]> -> tensor<12xf32>
  func.func @split_dim_padded(%a: tensor<10x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<12xf32> {
    %0 = flame.exp %a : tensor<10x12xf32> -> tensor<10x12xf32>
    %1 = flame.reduce_sum %0 {dims = array<i64: 0>} : tensor<10x12xf32> -> tensor<12xf32>
    func.return %1 : tensor<12xf32>
  }

// No padding in the reduced dim (12 columns over 4), keepdim: no mask_pad, no reshape.
// CHECK-LABEL: func.func @split_dim_keepdim
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<16x12xf32> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.reduce sum %1 dims [1] algorithm chain : !mesh.tensor<16x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x1xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %3 = mesh.gather %2 : !mesh.tensor<16x1xf32 on 4x1 split [r, _]> -> tensor<16x1xf32>
// CHECK-NOT:     mesh.mask_pad
// CHECK-NOT:     mesh.reshape
  func.func @split_dim_keepdim(%a: tensor<16x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<16x1xf32> {
    %0 = flame.reduce_sum %a {dims = array<i64: 1>, keepdim} : tensor<16x12xf32> -> tensor<16x1xf32>
    func.return %0 : tensor<16x1xf32>
  }

// An unsplit dim reduces on every PE: no allreduce. The padding of dim 0 (18 rows over 4) is
// not reduced over, so it is not masked.
// CHECK-LABEL: func.func @unsplit_dim
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<18x12xf32> -> !mesh.tensor<18x12xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<18x12xf32 on 4x1 split [r, _]> -> !mesh.tensor<18x1xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %2 = mesh.reshape %1 : !mesh.tensor<18x1xf32 on 4x1 split [r, _]> -> !mesh.tensor<18xf32 on 4x1 split [r]>
// CHECK-NEXT:    %3 = mesh.gather %2 : !mesh.tensor<18xf32 on 4x1 split [r]> -> tensor<18xf32>
// CHECK-NOT:     mesh.allreduce
// CHECK-NOT:     mesh.mask_pad
  func.func @unsplit_dim(%a: tensor<18x12xf32> {flame.layout = #flame.layout<row_partition [4]>}) -> tensor<18xf32> {
    %0 = flame.reduce_sum %a {dims = array<i64: 1>} : tensor<18x12xf32> -> tensor<18xf32>
    func.return %0 : tensor<18xf32>
  }

// Reducing every dim of a padded host input (zeros in its padding: no mask), one allreduce
// over both mesh axes.
// CHECK-LABEL: func.func @mean_all_keepdim
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<10x10xf32> -> !mesh.tensor<10x10xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.local_reduce sum %0 dims [0, 1] : !mesh.tensor<10x10xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.reduce sum %1 dims [0, 1] algorithm chain : !mesh.tensor<4x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x1xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %3 = mesh.unary scale %2 by 1.000000e-02 : !mesh.tensor<1x1xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %4 = mesh.gather %3 : !mesh.tensor<1x1xf32 on 1x1 split [_, _]> -> tensor<1x1xf32>
  func.func @mean_all_keepdim(%a: tensor<10x10xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<1x1xf32> {
    %0 = flame.reduce_mean %a {dims = array<i64: 0, 1>, keepdim} : tensor<10x10xf32> -> tensor<1x1xf32>
    func.return %0 : tensor<1x1xf32>
  }

// CHECK-LABEL: func.func @mean_no_keepdim
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<16x12xf32> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.reduce sum %1 dims [1] algorithm chain : !mesh.tensor<16x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x1xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %3 = mesh.reshape %2 : !mesh.tensor<16x1xf32 on 4x1 split [r, _]> -> !mesh.tensor<16xf32 on 4x1 split [r]>
// CHECK-NEXT:    %4 = mesh.unary scale %3 by 0.083333333333333329 : !mesh.tensor<16xf32 on 4x1 split [r]>
// CHECK-NEXT:    %5 = mesh.gather %4 : !mesh.tensor<16xf32 on 4x1 split [r]> -> tensor<16xf32>
  func.func @mean_no_keepdim(%a: tensor<16x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<16xf32> {
    %0 = flame.reduce_mean %a {dims = array<i64: 1>} : tensor<16x12xf32> -> tensor<16xf32>
    func.return %0 : tensor<16xf32>
  }

// A tensor on one PE reduces locally only.
// CHECK-LABEL: func.func @single_pe
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<5x7xf32> -> !mesh.tensor<5x7xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %1 = mesh.local_reduce sum %0 dims [0] : !mesh.tensor<5x7xf32 on 1x1 split [_, _]> -> !mesh.tensor<1x7xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %2 = mesh.reshape %1 : !mesh.tensor<1x7xf32 on 1x1 split [_, _]> -> !mesh.tensor<7xf32 on 1x1 split [_]>
// CHECK-NEXT:    %3 = mesh.gather %2 : !mesh.tensor<7xf32 on 1x1 split [_]> -> tensor<7xf32>
  func.func @single_pe(%a: tensor<5x7xf32>) -> tensor<7xf32> {
    %0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<5x7xf32> -> tensor<7xf32>
    func.return %0 : tensor<7xf32>
  }
}
