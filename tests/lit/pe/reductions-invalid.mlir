// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Errors of pe.recv's `combine` (pe.reduce's kinds are checked in invalid.mlir): a kind that is
// not a reduction is a parse error listing the kinds.

// CHECK: unknown reduction 'median' (one of sum, prod, max, min)
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.recv %a combine median {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>

// -----

// The old spelling of an adding receive is refused, not ignored.
// CHECK: 'accumulate' is spelled `combine sum` now
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.recv %a {color = 0 : i64, accumulate, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
