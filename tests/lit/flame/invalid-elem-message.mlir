// BUG (dialects/flame.py, FlameOp._check_elem): the message prints a Python set of xDSL objects,
// `got {Float32Type(), Float16Type()}`, in an order that changes from run to run (string hash
// randomisation). mesh prints the IR spelling, sorted: `got ['f16', 'f32']`.
// RUN: pyflame-opt %s --verify-diagnostics | filecheck %s

// CHECK: {{^}}'flame.add' needs operands of one element type, got ['f16', 'f32']
%a = "test.op"() : () -> tensor<4xf32>
%b = "test.op"() : () -> tensor<4xf16>
%0 = flame.add %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
