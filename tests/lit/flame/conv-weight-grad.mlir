// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// flame.conv2d_weight_grad: what autograd emits for a conv2d's weight, from the conv's input
// and output gradient; the result has the weight's shape (O, C/groups, kh, kw).

// CHECK-LABEL: func.func @weight_grad
// CHECK-NEXT:    %0 = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, padding = array<i64: 1, 1, 0, 2>, dilation = array<i64: 1, 2>, groups = 2 : i64} : (tensor<2x4x9x8xf32>, tensor<2x6x5x6xf32>) -> tensor<6x2x3x3xf32>
func.func @weight_grad(%x: tensor<2x4x9x8xf32>, %dy: tensor<2x6x5x6xf32>) -> tensor<6x2x3x3xf32> {
  %0 = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, padding = array<i64: 1, 1, 0, 2>, dilation = array<i64: 1, 2>, groups = 2 : i64} : (tensor<2x4x9x8xf32>, tensor<2x6x5x6xf32>) -> tensor<6x2x3x3xf32>
  func.return %0 : tensor<6x2x3x3xf32>
}
