// RUN: pyflame-opt %s -p decompose | filecheck %s
// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory,mesh-to-pe | filecheck %s --check-prefix=PE

// Ops on tensors with no elements compute constants (PyTorch's values): decompose folds them
// into flame.fill before spelling out composites, so no later pass or PE kernel sees a
// zero-size reduction, matmul or softmax: sum 0, mean NaN, prod 1, a matmul over k = 0 zeros,
// logsumexp -inf, an empty result an empty fill; concat drops its empty operands. A layout
// hint moves to the fill.

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %0 = flame.fill {value = 0.000000e+00 : f64} : tensor<4xf32>
// CHECK-NEXT:    %1 = flame.fill {value = 0x7ff8000000000000 : f64} : tensor<f32>
// CHECK-NEXT:    %2 = flame.fill {value = 1.000000e+00 : f64, layout = #flame.layout<single>} : tensor<4xf32>
// CHECK-NEXT:    %3 = flame.fill {value = 0.000000e+00 : f64} : tensor<4x4xf32>
// CHECK-NEXT:    %4 = flame.fill {value = 0.000000e+00 : f64} : tensor<0x4xf32>
// CHECK-NEXT:    %5 = flame.concat %d {dim = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %6 = flame.fill {value = 0xfff0000000000000 : f64} : tensor<4xf32>
// CHECK-NEXT:    func.return

// PE-NOT: pe.reduce
// PE-NOT: pe.matmul_acc
// PE:     pe.host_out
func.func @main(%a: tensor<0x4xf32>, %b: tensor<4x0xf32>, %c: tensor<0x3xf32>, %d: tensor<2x3xf32>) -> (tensor<4xf32>, tensor<f32>, tensor<4xf32>, tensor<4x4xf32>, tensor<0x4xf32>, tensor<2x3xf32>, tensor<4xf32>) {
  %0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<0x4xf32> -> tensor<4xf32>
  %1 = flame.reduce_mean %a {dims = array<i64: 0, 1>} : tensor<0x4xf32> -> tensor<f32>
  %2 = flame.reduce_prod %a {dims = array<i64: 0>, layout = #flame.layout<single>} : tensor<0x4xf32> -> tensor<4xf32>
  %3 = flame.matmul %b, %a : (tensor<4x0xf32>, tensor<0x4xf32>) -> tensor<4x4xf32>
  %4 = flame.softmax %a {dim = 1 : i64} : tensor<0x4xf32> -> tensor<0x4xf32>
  %5 = flame.concat %c, %d {dim = 0 : i64} : (tensor<0x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %6 = flame.logsumexp %a {dims = array<i64: 0>} : tensor<0x4xf32> -> tensor<4xf32>
  func.return %0, %1, %2, %3, %4, %5, %6 : tensor<4xf32>, tensor<f32>, tensor<4xf32>, tensor<4x4xf32>, tensor<0x4xf32>, tensor<2x3xf32>, tensor<4xf32>
}
