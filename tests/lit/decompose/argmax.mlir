// RUN: pyflame-opt %s -p decompose | filecheck %s
// RUN: pyflame-opt %s -p decompose,cse | filecheck %s --check-prefix=CSE

// argmax is the smallest index where x equals its max: reduce_max (keepdim), broadcast back,
// compare, keep the row-major index over the reduced dims (one flame.iota per dim, scaled by
// the dim's stride) where equal and the count of reduced elements elsewhere, reduce_min. For
// floats, a NaN also matches (the max is then NaN), as PyTorch's argmax picks the first NaN.

// CHECK-LABEL: func.func @argmax
// CHECK-NEXT:    %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %1 = flame.broadcast_to %0 : tensor<4x1xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = flame.eq %x, %1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xi1>
// CHECK-NEXT:    %3 = flame.ne %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xi1>
// CHECK-NEXT:    %4 = flame.logical_or %2, %3 : (tensor<4x8xi1>, tensor<4x8xi1>) -> tensor<4x8xi1>
// CHECK-NEXT:    %5 = flame.fill {value = 8.000000e+00 : f64} : tensor<i32>
// CHECK-NEXT:    %6 = flame.iota {dim = 1 : i64, start = 0.000000e+00 : f64, step = 1.000000e+00 : f64} : tensor<4x8xi32>
// CHECK-NEXT:    %7 = flame.where %4, %6, %5 : (tensor<4x8xi1>, tensor<4x8xi32>, tensor<i32>) -> tensor<4x8xi32>
// CHECK-NEXT:    %8 = flame.reduce_min %7 {dims = array<i64: 1>} : tensor<4x8xi32> -> tensor<4xi32>
// CHECK-NEXT:    func.return %8 : tensor<4xi32>
func.func @argmax(%x: tensor<4x8xf32>) -> tensor<4xi32> {
  %0 = flame.argmax %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xi32>
  func.return %0 : tensor<4xi32>
}

// Over every dim of an i32 tensor (argmin(x) of the flattened tensor): no NaN test; the flat
// index is 5 * i + j.
// CHECK-LABEL: func.func @argmin_all
// CHECK-NEXT:    %0 = flame.reduce_min %i {dims = array<i64: 0, 1>, keepdim} : tensor<3x5xi32> -> tensor<1x1xi32>
// CHECK-NEXT:    %1 = flame.broadcast_to %0 : tensor<1x1xi32> -> tensor<3x5xi32>
// CHECK-NEXT:    %2 = flame.eq %i, %1 : (tensor<3x5xi32>, tensor<3x5xi32>) -> tensor<3x5xi1>
// CHECK-NEXT:    %3 = flame.fill {value = 1.500000e+01 : f64} : tensor<i32>
// CHECK-NEXT:    %4 = flame.iota {dim = 1 : i64, start = 0.000000e+00 : f64, step = 1.000000e+00 : f64} : tensor<3x5xi32>
// CHECK-NEXT:    %5 = flame.iota {dim = 0 : i64, start = 0.000000e+00 : f64, step = 5.000000e+00 : f64} : tensor<3x5xi32>
// CHECK-NEXT:    %6 = flame.add %5, %4 : (tensor<3x5xi32>, tensor<3x5xi32>) -> tensor<3x5xi32>
// CHECK-NEXT:    %7 = flame.where %2, %6, %3 : (tensor<3x5xi1>, tensor<3x5xi32>, tensor<i32>) -> tensor<3x5xi32>
// CHECK-NEXT:    %8 = flame.reduce_min %7 {dims = array<i64: 0, 1>, keepdim} : tensor<3x5xi32> -> tensor<1x1xi32>
// CHECK-NEXT:    func.return %8 : tensor<1x1xi32>
func.func @argmin_all(%i: tensor<3x5xi32>) -> tensor<1x1xi32> {
  %0 = flame.argmin %i {dims = array<i64: 0, 1>, keepdim} : tensor<3x5xi32> -> tensor<1x1xi32>
  func.return %0 : tensor<1x1xi32>
}

// pf.max(x, 1): the values are a keepdim reduce_max; argmax's decomposition makes the same
// reduce_max again, and the pipeline's next step, cse, keeps the first one only.
// CHECK-LABEL: func.func @max_with_indices
// CHECK-NEXT:    %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %1 = flame.reshape %0 : tensor<4x1xf32> -> tensor<4xf32>
// CHECK-NEXT:    %2 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %3 = flame.broadcast_to %2 : tensor<4x1xf32> -> tensor<4x8xf32>
// CSE-LABEL:   func.func @max_with_indices
// CSE-NEXT:      %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CSE-NEXT:      %1 = flame.reshape %0 : tensor<4x1xf32> -> tensor<4xf32>
// CSE-NEXT:      %2 = flame.broadcast_to %0 : tensor<4x1xf32> -> tensor<4x8xf32>
// CSE-NOT:       flame.reduce_max
// CSE:           func.return %1, %{{.*}} : tensor<4xf32>, tensor<4xi32>
func.func @max_with_indices(%x: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
  %1 = flame.reshape %0 : tensor<4x1xf32> -> tensor<4xf32>
  %2 = flame.argmax %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xi32>
  func.return %1, %2 : tensor<4xf32>, tensor<4xi32>
}
