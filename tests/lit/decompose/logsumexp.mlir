// RUN: pyflame-opt %s -p decompose | filecheck %s

// logsumexp is log(sum(exp(x - m))) + m with m the max where it is finite and 0 where it is
// +-inf (as PyTorch: a row of -inf gives -inf, not NaN). Without keepdim a reshape drops the
// reduced dims at the end.

// CHECK-LABEL: func.func @logsumexp
// CHECK-NEXT:    %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %1 = flame.abs %0 : tensor<4x1xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %2 = flame.fill {value = 0x7ff0000000000000 : f64} : tensor<f32>
// CHECK-NEXT:    %3 = flame.eq %1, %2 : (tensor<4x1xf32>, tensor<f32>) -> tensor<4x1xi1>
// CHECK-NEXT:    %4 = flame.fill {value = 0.000000e+00 : f64} : tensor<f32>
// CHECK-NEXT:    %5 = flame.where %3, %4, %0 : (tensor<4x1xi1>, tensor<f32>, tensor<4x1xf32>) -> tensor<4x1xf32>
// CHECK-NEXT:    %6 = flame.broadcast_to %5 : tensor<4x1xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %7 = flame.sub %x, %6 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %8 = flame.exp %7 : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %9 = flame.reduce_sum %8 {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %10 = flame.log %9 : tensor<4x1xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %11 = flame.add %10, %5 : (tensor<4x1xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
// CHECK-NEXT:    %12 = flame.reshape %11 : tensor<4x1xf32> -> tensor<4xf32>
// CHECK-NEXT:    func.return %12 : tensor<4xf32>
func.func @logsumexp(%x: tensor<4x8xf32>) -> tensor<4xf32> {
  %0 = flame.logsumexp %x {dims = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @keepdim_f16
// CHECK-NEXT:    %0 = flame.convert %x : tensor<2x3xf16> -> tensor<2x3xf32>
// CHECK:         %{{.*}} = flame.add
// CHECK-NEXT:    %[[R:.*]] = flame.convert %{{.*}} : tensor<1x1xf32> -> tensor<1x1xf16>
// CHECK-NEXT:    func.return %[[R]] : tensor<1x1xf16>
func.func @keepdim_f16(%x: tensor<2x3xf16>) -> tensor<1x1xf16> {
  %0 = flame.logsumexp %x {dims = array<i64: 0, 1>, keepdim} : tensor<2x3xf16> -> tensor<1x1xf16>
  func.return %0 : tensor<1x1xf16>
}
