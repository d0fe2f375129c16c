// RUN: pyflame-opt %s -p decompose | filecheck %s

// var is the corrected two-pass variance (sum(d^2) - sum(d)^2 / count) / max(0, count -
// correction) with d = x - mean (a keepdim mean broadcast back): the second sum takes back the
// mean's rounding, so a constant group has variance exactly 0, as in PyTorch; clamped at 0.
// std is its sqrt. A divisor of 0 gives inf or NaN, as in PyTorch.

// CHECK-LABEL: func.func @var
// CHECK-NEXT:    %0 = flame.reduce_mean %x {dims = array<i64: 0>, keepdim} : tensor<4x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT:    %1 = flame.broadcast_to %0 : tensor<1x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = flame.sub %x, %1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = flame.mul %2, %2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %4 = flame.reduce_sum %3 {dims = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
// CHECK-NEXT:    %5 = flame.reduce_sum %2 {dims = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
// CHECK-NEXT:    %6 = flame.mul %5, %5 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT:    %7 = flame.fill {value = 4.000000e+00 : f64} : tensor<f32>
// CHECK-NEXT:    %8 = flame.div %6, %7 : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT:    %9 = flame.sub %4, %8 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT:    %10 = flame.fill {value = 0.000000e+00 : f64} : tensor<f32>
// CHECK-NEXT:    %11 = flame.maximum %9, %10 : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT:    %12 = flame.fill {value = 3.000000e+00 : f64} : tensor<f32>
// CHECK-NEXT:    %13 = flame.div %11, %12 : (tensor<8xf32>, tensor<f32>) -> tensor<8xf32>
// CHECK-NEXT:    func.return %13 : tensor<8xf32>
func.func @var(%x: tensor<4x8xf32>) -> tensor<8xf32> {
  %0 = flame.var %x {dims = array<i64: 0>, correction = 1.0 : f64} : tensor<4x8xf32> -> tensor<8xf32>
  func.return %0 : tensor<8xf32>
}

// 32 elements, correction 40: the divisor is max(0, 32 - 40) = 0.
// CHECK-LABEL: func.func @std_keepdim
// CHECK-NEXT:    %0 = flame.reduce_mean %x {dims = array<i64: 0, 1>, keepdim} : tensor<4x8xf32> -> tensor<1x1xf32>
// CHECK:         %11 = flame.maximum %9, %10 : (tensor<1x1xf32>, tensor<f32>) -> tensor<1x1xf32>
// CHECK-NEXT:    %12 = flame.fill {value = 0.000000e+00 : f64} : tensor<f32>
// CHECK-NEXT:    %13 = flame.div %11, %12 : (tensor<1x1xf32>, tensor<f32>) -> tensor<1x1xf32>
// CHECK-NEXT:    %14 = flame.sqrt %13 : tensor<1x1xf32> -> tensor<1x1xf32>
// CHECK-NEXT:    func.return %14 : tensor<1x1xf32>
func.func @std_keepdim(%x: tensor<4x8xf32>) -> tensor<1x1xf32> {
  %0 = flame.std %x {dims = array<i64: 0, 1>, keepdim, correction = 40.0 : f64} : tensor<4x8xf32> -> tensor<1x1xf32>
  func.return %0 : tensor<1x1xf32>
}

// CHECK-LABEL: func.func @std_f16
// CHECK-NEXT:    %0 = flame.convert %x : tensor<6xf16> -> tensor<6xf32>
// CHECK:         %{{.*}} = flame.sqrt %{{.*}} : tensor<f32> -> tensor<f32>
// CHECK-NEXT:    %[[R:.*]] = flame.convert %{{.*}} : tensor<f32> -> tensor<f16>
// CHECK-NEXT:    func.return %[[R]] : tensor<f16>
func.func @std_f16(%x: tensor<6xf16>) -> tensor<f16> {
  %0 = flame.std %x {dims = array<i64: 0>, correction = 0.0 : f64} : tensor<6xf16> -> tensor<f16>
  func.return %0 : tensor<f16>
}
