// RUN: pyflame-opt %s --verify-diagnostics --split-input-file | filecheck %s

// Elementwise verifiers: operand kinds, result kinds, rank-0 broadcasting, where's condition.

// CHECK: 'flame.exp' does not take i32 operands
%a = "test.op"() : () -> tensor<4xi32>
%0 = flame.exp %a : tensor<4xi32> -> tensor<4xi32>

// -----

// CHECK: 'flame.logical_and' does not take f32 operands
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.logical_and %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>

// -----

// CHECK: 'flame.lt' result must hold i1
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.lt %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>

// -----

// CHECK: 'flame.add' operands must have one shape or be rank-0, got [4], [1]
%a = "test.op"() : () -> tensor<4xf32>
%b = "test.op"() : () -> tensor<1xf32>
%0 = flame.add %a, %b : (tensor<4xf32>, tensor<1xf32>) -> tensor<4xf32>

// -----

// CHECK: where's condition must be i1, got f32
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.where %a, %a, %a : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
