// Tile ops check that their buffer holds a tile of their layout.
// RUN: pyflame-opt %s --verify-diagnostics --split-input-file | filecheck %s

// CHECK: 'pe.mask_pad' buffer holds 4 elements, its tile 16
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
pe.mask_pad %a {layout = #pe.layout<7x8xf32 on 2x2 split [r, c]>, value = 0.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>

// -----

// CHECK: 'pe.random_normal' buffer holds 4 elements, its tile 16
%s = "test.op"() : () -> i64
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
pe.random_normal %a, %s {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, i64
