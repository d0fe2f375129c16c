// RUN: pyflame-opt %s -p decompose | filecheck %s

// Half-float sum and mean accumulate in f32 and round once, as PyTorch (an f16 partial sum
// would overflow: the mean of a hundred f16 1000.0 must be 1000.0, not inf). A half-float prod
// stays in its type: PyTorch rounds every product (the simulator multiplies in order).

// CHECK-LABEL: func.func @mean_f16
// CHECK-NEXT:    %0 = flame.convert %x : tensor<100xf16> -> tensor<100xf32>
// CHECK-NEXT:    %1 = flame.reduce_mean %0 {dims = array<i64: 0>} : tensor<100xf32> -> tensor<f32>
// CHECK-NEXT:    %2 = flame.convert %1 : tensor<f32> -> tensor<f16>
// CHECK-NEXT:    func.return %2 : tensor<f16>
func.func @mean_f16(%x: tensor<100xf16>) -> tensor<f16> {
  %0 = flame.reduce_mean %x {dims = array<i64: 0>} : tensor<100xf16> -> tensor<f16>
  func.return %0 : tensor<f16>
}

// Each reduction converts its operand (cse, next in the pipeline, keeps one of the two converts).
// CHECK-LABEL: func.func @sum_prod_bf16
// CHECK-NEXT:    %0 = flame.convert %x : tensor<4x8xbf16> -> tensor<4x8xf32>
// CHECK-NEXT:    %1 = flame.reduce_sum %0 {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %2 = flame.convert %1 : tensor<4x1xf32> -> tensor<4x1xbf16>
// CHECK-NEXT:    %3 = flame.reduce_prod %x {dims = array<i64: 0>} : tensor<4x8xbf16> -> tensor<8xbf16>
func.func @sum_prod_bf16(%x: tensor<4x8xbf16>) -> tensor<8xbf16> {
  %0 = flame.reduce_sum %x {dims = array<i64: 1>, keepdim} : tensor<4x8xbf16> -> tensor<4x1xbf16>
  %1 = flame.reduce_prod %x {dims = array<i64: 0>} : tensor<4x8xbf16> -> tensor<8xbf16>
  func.return %1 : tensor<8xbf16>
}

// f32 and integer reductions are left alone.
// CHECK-LABEL: func.func @f32_untouched
// CHECK-NEXT:    %0 = flame.reduce_mean %x {dims = array<i64: 0>} : tensor<4xf32> -> tensor<f32>
// CHECK-NEXT:    %1 = flame.reduce_sum %y {dims = array<i64: 0>} : tensor<4xi32> -> tensor<i32>
func.func @f32_untouched(%x: tensor<4xf32>, %y: tensor<4xi32>) -> tensor<f32> {
  %0 = flame.reduce_mean %x {dims = array<i64: 0>} : tensor<4xf32> -> tensor<f32>
  %1 = flame.reduce_sum %y {dims = array<i64: 0>} : tensor<4xi32> -> tensor<i32>
  func.return %0 : tensor<f32>
}
