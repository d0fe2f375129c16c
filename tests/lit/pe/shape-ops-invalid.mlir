// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of pe.broadcast and of pe.exchange's index map, one case per chunk.

// CHECK: cannot broadcast [2, 3] to [3, 3]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
pe.broadcast %b, %a {src_shape = array<i64: 2, 3>, dst_shape = array<i64: 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>, !pe.buf<6xf32>

// -----

// CHECK: cannot broadcast [3] to [3, 3]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
pe.broadcast %b, %a {src_shape = array<i64: 3>, dst_shape = array<i64: 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>, !pe.buf<3xf32>

// -----

// CHECK: broadcast src buffer holds fewer than 3 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<2xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
pe.broadcast %b, %a {src_shape = array<i64: 1, 3>, dst_shape = array<i64: 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>, !pe.buf<2xf32>

// -----

// CHECK: broadcast dst buffer holds fewer than 9 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
pe.broadcast %b, %a {src_shape = array<i64: 1, 3>, dst_shape = array<i64: 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>, !pe.buf<3xf32>

// -----

// CHECK: broadcast buffers differ in element type
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf16>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
pe.broadcast %b, %a {src_shape = array<i64: 1, 3>, dst_shape = array<i64: 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>, !pe.buf<3xf16>

// -----

// CHECK: 'pe.broadcast' runs on PEs [0, 0, 2, 2] outside buffer 'b' (allocated on [0, 0, 1, 1])
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<9xf32>
pe.broadcast %b, %a {src_shape = array<i64: 1, 3>, dst_shape = array<i64: 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>, !pe.buf<3xf32>

// -----

// CHECK: exchange with an index map needs one offset and stride per dim of both layouts, got offset [1], stride [1, 1] for shapes [8, 8] -> [4, 8]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<4x8xf32 on 2x2 split [r, c]>, offset = array<i64: 1>, stride = array<i64: 1, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>

// -----

// Without an index map the layouts hold as many elements (a redistribution or a reshape).
// CHECK: exchange layouts differ in shape
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<63xf32 on 2x2 split [rc]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
