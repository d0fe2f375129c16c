// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of pe.iota, pe.random_uniform and batched pe.matmul_acc.

// CHECK: iota dim 2 is out of range for a rank-2 layout
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
pe.iota %a {layout = #pe.layout<6x8xf32 on 2x2 split [r, c]>, dim = 2 : i64, start = 0.0 : f64, step = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>

// -----

// CHECK: 'pe.iota' buffer holds 8 elements, its tile 12
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
pe.iota %a {layout = #pe.layout<6x8xf32 on 2x2 split [r, c]>, dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>

// -----

// CHECK: 'pe.iota' layout grid 2x2 does not match its PEs [0, 0, 1, 2]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
pe.iota %a {layout = #pe.layout<6x8xf32 on 2x2 split [r, c]>, dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<12xf32>

// -----

// CHECK: random_uniform on i32 needs integer bounds within int32, got [0.0, 0.5)
%s = "test.op"() : () -> i64
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>
pe.random_uniform %a, %s {layout = #pe.layout<4xi32 on 1x1 split [_]>, minval = 0.0 : f64, maxval = 0.5 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>, i64

// -----

// CHECK: 'pe.random_uniform' buffer holds 3 elements, its tile 4
%s = "test.op"() : () -> i64
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<3xf32>
pe.random_uniform %a, %s {layout = #pe.layout<4xf32 on 1x1 split [_]>, minval = 0.0 : f64, maxval = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<3xf32>, i64

// -----

// CHECK: matmul_acc batches 2 and 3 must be positive and equal, or one of them 1
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<12xf32>
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<12xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<18xf32>
pe.matmul_acc %c, %a, %b {m = 2 : i64, k = 3 : i64, n = 2 : i64, lhs_batch = 2 : i64, rhs_batch = 3 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<12xf32>, !pe.buf<12xf32>, !pe.buf<18xf32>

// -----

// CHECK: matmul_acc acc must hold 12 elements
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<18xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>
pe.matmul_acc %c, %a, %b {m = 2 : i64, k = 3 : i64, n = 2 : i64, lhs_batch = 3 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<18xf32>, !pe.buf<6xf32>
