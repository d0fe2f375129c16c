// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of flame.iota, flame.random_uniform and batched flame.matmul, one case per
// chunk.

// === iota ===

// CHECK: iota dim 2 is out of range for a rank-2 result
%0 = flame.iota {dim = 2 : i64, start = 0.0 : f64, step = 1.0 : f64} : tensor<4x4xf32>

// -----

// CHECK: iota makes f32, f16, bf16, i32 tensors, not i1
%0 = flame.iota {dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64} : tensor<4xi1>

// === random_uniform ===

// -----

// CHECK: random_uniform needs finite bounds with minval < maxval, got [1.0, 1.0)
%s = "test.op"() : () -> i64
%0 = flame.random_uniform %s {minval = 1.0 : f64, maxval = 1.0 : f64} : i64 -> tensor<4xf32>

// -----

// CHECK: random_uniform on i32 needs integer bounds within int32, got [0.5, 3.0)
%s = "test.op"() : () -> i64
%0 = flame.random_uniform %s {minval = 0.5 : f64, maxval = 3.0 : f64} : i64 -> tensor<4xi32>

// -----

// CHECK: random_uniform on i32 needs integer bounds within int32, got [0.0, 4294967296.0)
%s = "test.op"() : () -> i64
%0 = flame.random_uniform %s {minval = 0.0 : f64, maxval = 4294967296.0 : f64} : i64 -> tensor<4xi32>

// -----

// CHECK: random_uniform makes f32, f16, bf16, i32 tensors, not i1
%s = "test.op"() : () -> i64
%0 = flame.random_uniform %s {minval = 0.0 : f64, maxval = 1.0 : f64} : i64 -> tensor<4xi1>

// === batched matmul ===

// -----

// CHECK: matmul: batch dims [2] and [3] of shapes [2, 4, 5] and [3, 5, 6] differ (broadcast them first)
%a = "test.op"() : () -> tensor<2x4x5xf32>
%b = "test.op"() : () -> tensor<3x5x6xf32>
%0 = flame.matmul %a, %b : (tensor<2x4x5xf32>, tensor<3x5x6xf32>) -> tensor<2x4x6xf32>

// -----

// CHECK: result shape [4, 6] should be [2, 4, 6] for 'flame.matmul'
%a = "test.op"() : () -> tensor<4x5xf32>
%b = "test.op"() : () -> tensor<2x5x6xf32>
%0 = flame.matmul %a, %b : (tensor<4x5xf32>, tensor<2x5x6xf32>) -> tensor<4x6xf32>

// -----

// CHECK: matmul: shapes [2, 4, 5] and [2, 4, 6] cannot be multiplied (5 != 4)
%a = "test.op"() : () -> tensor<2x4x5xf32>
%b = "test.op"() : () -> tensor<2x4x6xf32>
%0 = flame.matmul %a, %b : (tensor<2x4x5xf32>, tensor<2x4x6xf32>) -> tensor<2x4x6xf32>
