// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-debuginfo | pyflame-opt --print-debuginfo | filecheck %s --check-prefix=LOC

// Every flame op and every layout kind survives a print/parse round trip (custom and generic
// forms), attributes and locations included.

// CHECK-LABEL: func.func @creation(%seed: i64)
// CHECK-NEXT:    %{{.*}} = flame.fill {value = 1.500000e+00 : f64} : tensor<4x8xf32>
// CHECK-NEXT:    %{{.*}} = flame.random_normal %seed : i64 -> tensor<4x8xf32>
// CHECK-NEXT:    %{{.*}} = flame.fill {value = 0.000000e+00 : f64, layout = #flame.layout<single>} : tensor<2xf32>
func.func @creation(%seed: i64) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<2xf32>) {
  %0 = flame.fill {value = 1.5 : f64} : tensor<4x8xf32>
  %1 = flame.random_normal %seed : i64 -> tensor<4x8xf32>
  %2 = flame.fill {value = 0.0 : f64, layout = #flame.layout<single>} : tensor<2xf32>
  func.return %0, %1, %2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<2xf32>
}

// CHECK-LABEL: func.func @elementwise(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>)
// CHECK-NEXT:    %0 = flame.add %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %1 = flame.sub %0, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = flame.mul %1, %a {layout = #flame.layout<grid [2, 4]>} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = flame.div %2, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %4 = flame.neg %3 : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %5 = flame.relu %4 {layout = #flame.layout<row_partition [4]>} : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %5 : tensor<4x8xf32>
func.func @elementwise(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = flame.add %a, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %1 = flame.sub %0, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %2 = flame.mul %1, %a {layout = #flame.layout<grid [2, 4]>} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %3 = flame.div %2, %b : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %4 = flame.neg %3 : tensor<4x8xf32> -> tensor<4x8xf32>
  %5 = flame.relu %4 {layout = #flame.layout<row_partition [4]>} : tensor<4x8xf32> -> tensor<4x8xf32>
  func.return %5 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @reductions(%a: tensor<4x8x3xf32>)
// CHECK-NEXT:    %0 = flame.reduce_sum %a {dims = array<i64: 1>} : tensor<4x8x3xf32> -> tensor<4x3xf32>
// CHECK-NEXT:    %1 = flame.reduce_sum %a {dims = array<i64: 0, 2>, keepdim} : tensor<4x8x3xf32> -> tensor<1x8x1xf32>
// CHECK-NEXT:    %2 = flame.reduce_mean %a {dims = array<i64: 0, 1, 2>} : tensor<4x8x3xf32> -> tensor<f32>
// CHECK-NEXT:    %3 = flame.reduce_mean %a {dims = array<i64: 2>, keepdim, layout = #flame.layout<col_partition [2]>} : tensor<4x8x3xf32> -> tensor<4x8x1xf32>
func.func @reductions(%a: tensor<4x8x3xf32>) -> (tensor<4x3xf32>, tensor<1x8x1xf32>, tensor<f32>, tensor<4x8x1xf32>) {
  %0 = flame.reduce_sum %a {dims = array<i64: 1>} : tensor<4x8x3xf32> -> tensor<4x3xf32>
  %1 = flame.reduce_sum %a {dims = array<i64: 0, 2>, keepdim} : tensor<4x8x3xf32> -> tensor<1x8x1xf32>
  %2 = flame.reduce_mean %a {dims = array<i64: 0, 1, 2>} : tensor<4x8x3xf32> -> tensor<f32>
  %3 = flame.reduce_mean %a {dims = array<i64: 2>, keepdim, layout = #flame.layout<col_partition [2]>} : tensor<4x8x3xf32> -> tensor<4x8x1xf32>
  func.return %0, %1, %2, %3 : tensor<4x3xf32>, tensor<1x8x1xf32>, tensor<f32>, tensor<4x8x1xf32>
}

// CHECK-LABEL: func.func @linalg(%a: tensor<6x4xf32>, %b: tensor<4x5xf32>)
// CHECK-NEXT:    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [2, 2]>} : (tensor<6x4xf32>, tensor<4x5xf32>) -> tensor<6x5xf32>
// LOC:         flame.matmul %a, %b {{.*}} -> tensor<6x5xf32> loc("demo.py":7:0)
// LOC-NEXT:    flame.transpose %0 {{.*}} loc(unknown)
// CHECK-NEXT:    %1 = flame.transpose %0 {perm = array<i64: 1, 0>} : tensor<6x5xf32> -> tensor<5x6xf32>
// CHECK-NEXT:    %2 = flame.reshape %1 : tensor<5x6xf32> -> tensor<30xf32>
// CHECK-NEXT:    %3 = flame.reshape %2 {layout = #flame.layout<replicated [2, 3]>} : tensor<30xf32> -> tensor<3x1x10xf32>
func.func @linalg(%a: tensor<6x4xf32>, %b: tensor<4x5xf32>) -> tensor<3x1x10xf32> {
  %0 = flame.matmul %a, %b {layout = #flame.layout<grid [2, 2]>} : (tensor<6x4xf32>, tensor<4x5xf32>) -> tensor<6x5xf32> loc("demo.py":7:0)
  %1 = flame.transpose %0 {perm = array<i64: 1, 0>} : tensor<6x5xf32> -> tensor<5x6xf32>
  %2 = flame.reshape %1 : tensor<5x6xf32> -> tensor<30xf32>
  %3 = flame.reshape %2 {layout = #flame.layout<replicated [2, 3]>} : tensor<30xf32> -> tensor<3x1x10xf32>
  func.return %3 : tensor<3x1x10xf32>
}
