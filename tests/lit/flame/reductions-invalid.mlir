// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of the reduction ops (reduce_prod/max/min share reduce_sum's checks,
// tested in invalid.mlir), one case per split-input-file chunk.

// CHECK: dims [1, 0] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_max %a {dims = array<i64: 1, 0>} : tensor<4x3xf32> -> tensor<f32>

// -----

// CHECK: result shape [4] should be [3] for 'flame.reduce_prod'
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_prod %a {dims = array<i64: 0>} : tensor<4x3xf32> -> tensor<4xf32>

// -----

// CHECK: 'flame.reduce_min' needs one element type, got ['f32', 'i32']
%a = "test.op"() : () -> tensor<4x3xi32>
%0 = flame.reduce_min %a {dims = array<i64: 0>} : tensor<4x3xi32> -> tensor<3xf32>

// -----

// argmax and argmin give i32 indices.
// CHECK: 'flame.argmax' result must hold i32
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.argmax %a {dims = array<i64: 1>} : tensor<4x3xf32> -> tensor<4xf32>

// -----

// CHECK: result shape [4] should be [1, 3] for 'flame.argmin'
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.argmin %a {dims = array<i64: 0>, keepdim} : tensor<4x3xf32> -> tensor<4xi32>

// -----

// CHECK: dims [2] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.argmax %a {dims = array<i64: 2>} : tensor<4x3xf32> -> tensor<4x3xi32>

// -----

// CHECK: 'flame.logsumexp' needs floating-point operands
%a = "test.op"() : () -> tensor<4x3xi32>
%0 = flame.logsumexp %a {dims = array<i64: 1>} : tensor<4x3xi32> -> tensor<4xi32>

// -----

// CHECK: 'flame.var' needs floating-point operands
%a = "test.op"() : () -> tensor<4x3xi32>
%0 = flame.var %a {dims = array<i64: 1>, correction = 1.0 : f64} : tensor<4x3xi32> -> tensor<4xi32>

// -----

// var and std need their correction.
// CHECK: property 'correction' expected in operation 'flame.std'
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.std %a {dims = array<i64: 1>} : tensor<4x3xf32> -> tensor<4xf32>

// -----

// CHECK: dims [2] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.softmax %a {dim = 2 : i64} : tensor<4x3xf32> -> tensor<4x3xf32>

// -----

// CHECK: result shape [3, 4] should be [4, 3] for 'flame.log_softmax'
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.log_softmax %a {dim = 1 : i64} : tensor<4x3xf32> -> tensor<3x4xf32>

// -----

// CHECK: 'flame.softmax' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.softmax %a {dim = 1 : i64} : tensor<4x3xf32> -> tensor<4x3xf16>

// -----

// CHECK: 'flame.softmax' needs floating-point operands
%a = "test.op"() : () -> tensor<4x3xi32>
%0 = flame.softmax %a {dim = 1 : i64} : tensor<4x3xi32> -> tensor<4x3xi32>
