// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of pe.fused's expression (pyflame/core/fused_expr.py), one case per chunk.

// CHECK: 'pe.fused' expression: step 1: unknown function 'nope'
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.fused %b, %a expr "relu.f32($0); nope.f32(%0)" {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>

// -----

// CHECK: 'pe.fused' expression: step 0: %0 is not an earlier step
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.fused %b, %a expr "add.f32($0, %0)" {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>

// -----

// CHECK: 'pe.fused' expression: inputs [1] are not used
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.fused %b, %a, %a expr "relu.f32($0)" {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>, !pe.buf<4xf32>

// -----

// CHECK: 'pe.fused' expression: $1 holds 3 elements, not 4 or 1
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<3xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.fused %b, %a, %c expr "add.f32($0, $1)" {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>, !pe.buf<3xf32>

// -----

// CHECK: 'pe.fused' expression gives i1, dst holds f32
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.fused %b, %a expr "gt.i1($0, 0.0:f32)" {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>
