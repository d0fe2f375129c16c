// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Every reduction kind lowers like reduce_sum (see reduce.mlir): padding in a reduced dim is
// masked with the kind's identity (-inf for a float max, the largest int32 for an integer min,
// 1 for a product), then a local reduce and an allreduce of that kind. flame-to-mesh runs the
// decompose pass first, so a composite (softmax) arrives as reductions, broadcasts and
// elementwise ops: the max and the sum broadcast back onto the rows' tiles with no data moved.

builtin.module attributes {pf.target = #pf.target<"small">} {

// 10 rows over 4 PE rows: the 2 padding rows become -inf before the max.
// CHECK-LABEL: func.func @max_padded
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<10x12xf32> -> !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.mask_pad %0 value 0xfff0000000000000 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.local_reduce max %1 dims [0] : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %3 = mesh.reduce max %2 dims [0] algorithm chain : !mesh.tensor<4x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x12xf32 on 1x4 split [_, c]>
// CHECK-NEXT:    %4 = mesh.reshape %3 : !mesh.tensor<1x12xf32 on 1x4 split [_, c]> -> !mesh.tensor<12xf32 on 1x4 split [c]>
// CHECK-NEXT:    %5 = mesh.gather %4 : !mesh.tensor<12xf32 on 1x4 split [c]> -> tensor<12xf32>
// CHECK-NEXT:    func.return %5 : tensor<12xf32>
  func.func @max_padded(%a: tensor<10x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<12xf32> {
    %0 = flame.reduce_max %a {dims = array<i64: 0>} : tensor<10x12xf32> -> tensor<12xf32>
    func.return %0 : tensor<12xf32>
  }

// i32 padding gets 2147483647 (printed in hex to stay exact) before the min.
// CHECK-LABEL: func.func @int_min_all
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<10x10xi32> -> !mesh.tensor<10x10xi32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.mask_pad %0 value 0x41DFFFFFFFC00000 : !mesh.tensor<10x10xi32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.local_reduce min %1 dims [0, 1] : !mesh.tensor<10x10xi32 on 4x4 split [r, c]> -> !mesh.tensor<4x4xi32 on 4x4 split [r, c]>
// CHECK-NEXT:    %3 = mesh.reduce min %2 dims [0, 1] algorithm chain : !mesh.tensor<4x4xi32 on 4x4 split [r, c]> -> !mesh.tensor<1x1xi32 on 1x1 split [_, _]>
// CHECK-NEXT:    %4 = mesh.reshape %3 : !mesh.tensor<1x1xi32 on 1x1 split [_, _]> -> !mesh.tensor<i32 on 1x1 split []>
// CHECK-NEXT:    %5 = mesh.gather %4 : !mesh.tensor<i32 on 1x1 split []> -> tensor<i32>
// CHECK-NEXT:    func.return %5 : tensor<i32>
  func.func @int_min_all(%a: tensor<10x10xi32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<i32> {
    %0 = flame.reduce_min %a {dims = array<i64: 0, 1>} : tensor<10x10xi32> -> tensor<i32>
    func.return %0 : tensor<i32>
  }

// 7 columns over 3 PEs: padding is 1 before the product.
// CHECK-LABEL: func.func @prod_cols
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<6x7xf32> -> !mesh.tensor<6x7xf32 on 1x3 split [_, c]>
// CHECK-NEXT:    %1 = mesh.mask_pad %0 value 1.000000e+00 : !mesh.tensor<6x7xf32 on 1x3 split [_, c]>
// CHECK-NEXT:    %2 = mesh.local_reduce prod %1 dims [1] : !mesh.tensor<6x7xf32 on 1x3 split [_, c]> -> !mesh.tensor<6x3xf32 on 1x3 split [_, c]>
// CHECK-NEXT:    %3 = mesh.reduce prod %2 dims [1] algorithm chain : !mesh.tensor<6x3xf32 on 1x3 split [_, c]> -> !mesh.tensor<6x1xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %4 = mesh.gather %3 : !mesh.tensor<6x1xf32 on 1x1 split [_, _]> -> tensor<6x1xf32>
// CHECK-NEXT:    func.return %4 : tensor<6x1xf32>
  func.func @prod_cols(%a: tensor<6x7xf32> {flame.layout = #flame.layout<col_partition [3]>}) -> tensor<6x1xf32> {
    %0 = flame.reduce_prod %a {dims = array<i64: 1>, keepdim} : tensor<6x7xf32> -> tensor<6x1xf32>
    func.return %0 : tensor<6x1xf32>
  }

// softmax along a split dim: two allreduces (max, then sum), no mask (12 = 4 x 3).
// CHECK-LABEL: func.func @softmax
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<16x12xf32> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.local_reduce max %0 dims [1] : !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.allreduce max %1 dims [1] algorithm two_chains : !mesh.tensor<16x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x1xf32 on 4x4 split [r, _]>
// CHECK-NEXT:    %3 = mesh.broadcast %2 : !mesh.tensor<16x1xf32 on 4x4 split [r, _]> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %4 = mesh.binary sub %0, %3 : !mesh.tensor<16x12xf32 on 4x4 split [r, c]>, !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %5 = mesh.unary exp %4 : !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %6 = mesh.local_reduce sum %5 dims [1] : !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %7 = mesh.allreduce sum %6 dims [1] algorithm two_chains : !mesh.tensor<16x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x1xf32 on 4x4 split [r, _]>
// CHECK-NEXT:    %8 = mesh.broadcast %7 : !mesh.tensor<16x1xf32 on 4x4 split [r, _]> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %9 = mesh.binary div %5, %8 : !mesh.tensor<16x12xf32 on 4x4 split [r, c]>, !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<16x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %10 = mesh.gather %9 : !mesh.tensor<16x12xf32 on 4x4 split [r, c]> -> tensor<16x12xf32>
// CHECK-NEXT:    func.return %10 : tensor<16x12xf32>
  func.func @softmax(%a: tensor<16x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<16x12xf32> {
    %0 = flame.softmax %a {dim = 1 : i64} : tensor<16x12xf32> -> tensor<16x12xf32>
    func.return %0 : tensor<16x12xf32>
  }
}
