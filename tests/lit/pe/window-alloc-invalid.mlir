// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of a window of a buffer (`pe.alloc in %whole at N`: mesh.allreduce_group's
// operands and results in its packed buffer).

// CHECK: window [8, 12) outside its parent's 10 elements
%p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%w = pe.alloc in %p : !pe.buf<10xf32> at 8 {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>

// -----

// CHECK: a window holds its parent's elements
%p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%w = pe.alloc in %p : !pe.buf<10xf32> at 0 {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xi32>

// -----

// A window starts on a 32-bit word: half floats at an even element.
// CHECK: window at element 3 is not word-aligned
%p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf16>
%w = pe.alloc in %p : !pe.buf<10xf16> at 3 {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf16>

// -----

// CHECK: a window lies on its parent's PEs
%p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%w = pe.alloc in %p : !pe.buf<10xf32> at 0 {name = "w", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>

// -----

// Windows are flat: a window of a window is not one.
// CHECK: a window's parent is a pe.alloc that is not a window
%p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%w = pe.alloc in %p : !pe.buf<10xf32> at 0 {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
%v = pe.alloc in %w : !pe.buf<4xf32> at 0 {name = "v", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<2xf32>
