// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// The reduction ops survive a print/parse round trip in custom and generic form: the primitive
// kinds (reduce_prod, reduce_max, reduce_min; reduce_sum and reduce_mean are in ops.mlir) and
// the composites the decompose pass rewrites (argmax, argmin, logsumexp, var, std, softmax,
// log_softmax).

// CHECK-LABEL: func.func @reductions(%a: tensor<4x8x3xf32>, %i: tensor<5x7xi32>)
// CHECK-NEXT:    %0 = flame.reduce_prod %a {dims = array<i64: 1>} : tensor<4x8x3xf32> -> tensor<4x3xf32>
// CHECK-NEXT:    %1 = flame.reduce_max %a {dims = array<i64: 0, 2>, keepdim} : tensor<4x8x3xf32> -> tensor<1x8x1xf32>
// CHECK-NEXT:    %2 = flame.reduce_min %i {dims = array<i64: 0, 1>, layout = #flame.layout<single>} : tensor<5x7xi32> -> tensor<i32>
// CHECK-NEXT:    %3 = flame.argmax %a {dims = array<i64: 2>} : tensor<4x8x3xf32> -> tensor<4x8xi32>
// CHECK-NEXT:    %4 = flame.argmin %i {dims = array<i64: 0, 1>, keepdim} : tensor<5x7xi32> -> tensor<1x1xi32>
// CHECK-NEXT:    %5 = flame.logsumexp %a {dims = array<i64: 1>, keepdim} : tensor<4x8x3xf32> -> tensor<4x1x3xf32>
// CHECK-NEXT:    %6 = flame.var %a {dims = array<i64: 0>, correction = 1.000000e+00 : f64} : tensor<4x8x3xf32> -> tensor<8x3xf32>
// CHECK-NEXT:    %7 = flame.std %a {dims = array<i64: 0, 1, 2>, correction = 5.000000e-01 : f64} : tensor<4x8x3xf32> -> tensor<f32>
// CHECK-NEXT:    %8 = flame.softmax %a {dim = 2 : i64} : tensor<4x8x3xf32> -> tensor<4x8x3xf32>
// CHECK-NEXT:    %9 = flame.log_softmax %a {dim = 0 : i64, layout = #flame.layout<grid [2, 2]>} : tensor<4x8x3xf32> -> tensor<4x8x3xf32>
func.func @reductions(%a: tensor<4x8x3xf32>, %i: tensor<5x7xi32>) {
  %0 = flame.reduce_prod %a {dims = array<i64: 1>} : tensor<4x8x3xf32> -> tensor<4x3xf32>
  %1 = flame.reduce_max %a {dims = array<i64: 0, 2>, keepdim} : tensor<4x8x3xf32> -> tensor<1x8x1xf32>
  %2 = flame.reduce_min %i {dims = array<i64: 0, 1>, layout = #flame.layout<single>} : tensor<5x7xi32> -> tensor<i32>
  %3 = flame.argmax %a {dims = array<i64: 2>} : tensor<4x8x3xf32> -> tensor<4x8xi32>
  %4 = flame.argmin %i {dims = array<i64: 0, 1>, keepdim} : tensor<5x7xi32> -> tensor<1x1xi32>
  %5 = flame.logsumexp %a {dims = array<i64: 1>, keepdim} : tensor<4x8x3xf32> -> tensor<4x1x3xf32>
  %6 = flame.var %a {dims = array<i64: 0>, correction = 1.0 : f64} : tensor<4x8x3xf32> -> tensor<8x3xf32>
  %7 = flame.std %a {dims = array<i64: 0, 1, 2>, correction = 0.5 : f64} : tensor<4x8x3xf32> -> tensor<f32>
  %8 = flame.softmax %a {dim = 2 : i64} : tensor<4x8x3xf32> -> tensor<4x8x3xf32>
  %9 = flame.log_softmax %a {dim = 0 : i64, layout = #flame.layout<grid [2, 2]>} : tensor<4x8x3xf32> -> tensor<4x8x3xf32>
  func.return
}
