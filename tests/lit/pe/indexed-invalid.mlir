// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of pe.gather_rows and pe.scatter_add_rows, one case per chunk.

// CHECK: 'pe.gather_rows' rows buffer must hold 3 x 2 elements (index entries x the tile's row width), got 8
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xi32>
%rows = pe.alloc {name = "rows", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
pe.gather_rows %rows, %w, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<8xf32>, !pe.buf<10xf32>, !pe.buf<3xi32>

// -----

// CHECK: 'pe.gather_rows' index must hold i32, got f32
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>
%rows = pe.alloc {name = "rows", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
pe.gather_rows %rows, %w, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<6xf32>, !pe.buf<10xf32>, !pe.buf<3xf32>

// -----

// CHECK: 'pe.scatter_add_rows' layout must be 2-D (a table of rows), got #pe.layout<40xf32 on 2x2 split [rc]>
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xi32>
%rows = pe.alloc {name = "rows", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
pe.scatter_add_rows %w, %rows, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<40xf32 on 2x2 split [rc]>} : !pe.buf<10xf32>, !pe.buf<6xf32>, !pe.buf<3xi32>

// -----

// CHECK: 'pe.scatter_add_rows' layout grid 2x2 does not match its PEs [0, 0, 1, 2]
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
%i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xi32>
%rows = pe.alloc {name = "rows", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
pe.scatter_add_rows %w, %rows, %i {pes = array<i64: 0, 0, 1, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<10xf32>, !pe.buf<6xf32>, !pe.buf<3xi32>
