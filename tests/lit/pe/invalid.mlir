// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every pe verifier error, one case per split-input-file chunk. Each message is checked at the
// start of a line (the verifier's own line, not the annotation under the op).

// === the !pe.buf type ===

// CHECK: a pe buffer is one-dimensional and static: !pe.buf<SIZExTYPE>
%0 = "test.op"() : () -> !pe.buf<4x4xf32>

// === PE rectangles ===

// -----

// CHECK: pes must be [row0, col0, rows, cols] with positive sizes, got [0, 0, 0, 2]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 0, 2>} : !pe.buf<4xf32>

// -----

// CHECK: pes must be [row0, col0, rows, cols] with positive sizes, got [0, 0, 2]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2>} : !pe.buf<4xf32>

// -----

// CHECK: pes must be [row0, col0, rows, cols] with positive sizes, got [-1, 0, 2, 2]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
pe.fill %a {value = 0.0 : f64, pes = array<i64: -1, 0, 2, 2>} : !pe.buf<4xf32>

// -----

// An op may only touch a buffer on PEs where it is allocated.
// (The buffer's name is printed with extra quotes: see invalid-buffer-name.mlir.)
// CHECK: 'pe.fill' runs on PEs [1, 1, 2, 2] outside buffer '{{"?}}a{{"?}}' (allocated on [0, 0, 2, 2])
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
pe.fill %a {value = 0.0 : f64, pes = array<i64: 1, 1, 2, 2>} : !pe.buf<4xf32>

// -----

// CHECK: 'pe.binary' runs on PEs [0, 0, 2, 2] outside buffer '{{"?}}b{{"?}}' (allocated on [0, 0, 1, 2])
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
pe.binary add %a, %a, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>, !pe.buf<4xf32>

// === alloc ===

// -----

// CHECK: offset must not be negative
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>, offset = -16 : i64} : !pe.buf<4xf32>

// -----

// CHECK: property 'name' expected in operation 'pe.alloc'
%a = pe.alloc {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>

// === host I/O ===

// -----

// CHECK: host_in shape mismatch
%x = "test.op"() : () -> tensor<8x4xf32>
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.host_in %x, %a {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<8x4xf32>, !pe.buf<16xf32>

// -----

// A 7x7 tensor on 2x2 PEs has 4x4 (padded) tiles.
// CHECK: 'pe.host_in' buffer holds {{[0-9]+}} elements, its tile 16
%x = "test.op"() : () -> tensor<7x7xf32>
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<15xf32>
pe.host_in %x, %a {layout = #pe.layout<7x7xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<7x7xf32>, !pe.buf<15xf32>

// -----

// CHECK: host_out shape mismatch
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%o = pe.host_out %a {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<64xf32>

// -----

// CHECK: 'pe.host_out' buffer holds {{[0-9]+}} elements, its tile 16
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
%o = pe.host_out %a {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32> -> tensor<8x8xf32>

// === compute ===

// -----

// CHECK: unknown unary fn 'frobnicate'
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.unary frobnicate %a, %a {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>

// -----

// CHECK: unary buffers differ in size
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
pe.unary neg %a, %b {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<8xf32>

// -----

// CHECK: unknown binary fn 'max'
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.binary max %a, %a, %a {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>, !pe.buf<4xf32>

// -----

// CHECK: 'pe.binary' operands must hold 4 elements or 1, got [4, 8]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
pe.binary add %a, %a, %b {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>, !pe.buf<8xf32>

// -----

// CHECK: unknown reduction 'median'
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%r = pe.alloc {name = "r", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>
pe.reduce median %r, %a {shape = array<i64: 2, 4>, dims = array<i64: 1>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>, !pe.buf<8xf32>

// -----

// CHECK: reduce shape != src size
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%r = pe.alloc {name = "r", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>
pe.reduce sum %r, %a {shape = array<i64: 2, 3>, dims = array<i64: 1>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>, !pe.buf<8xf32>

// -----

// CHECK: reduce dims out of range
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%r = pe.alloc {name = "r", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>
pe.reduce sum %r, %a {shape = array<i64: 2, 4>, dims = array<i64: 2>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>, !pe.buf<8xf32>

// -----

// CHECK: reduce dst must hold 4 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%r = pe.alloc {name = "r", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>
pe.reduce sum %r, %a {shape = array<i64: 2, 4>, dims = array<i64: 0>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<2xf32>, !pe.buf<8xf32>

// -----

// CHECK: bad permutation
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
pe.transpose %b, %a {shape = array<i64: 2, 4>, perm = array<i64: 1, 1>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>, !pe.buf<8xf32>

// -----

// CHECK: transpose sizes differ
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>
pe.transpose %b, %a {shape = array<i64: 2, 4>, perm = array<i64: 1, 0>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>, !pe.buf<8xf32>

// -----

// CHECK: copy buffers differ in size
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>
pe.copy %b, %a {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>, !pe.buf<8xf32>

// -----

// CHECK: matmul_acc acc must hold 6 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<12xf32>
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
pe.matmul_acc %c, %a, %b {m = 2 : i64, k = 4 : i64, n = 3 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>, !pe.buf<8xf32>, !pe.buf<12xf32>

// -----

// CHECK: matmul_acc lhs must hold 8 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<12xf32>
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>
pe.matmul_acc %c, %a, %b {m = 2 : i64, k = 4 : i64, n = 3 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>, !pe.buf<6xf32>, !pe.buf<12xf32>

// -----

// CHECK: matmul_acc rhs must hold 12 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>
pe.matmul_acc %c, %a, %b {m = 2 : i64, k = 4 : i64, n = 3 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<6xf32>, !pe.buf<8xf32>, !pe.buf<8xf32>

// === network ===

// -----

// CHECK: color must not be negative
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
pe.send %a {color = -1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>

// -----

// CHECK: color must not be negative
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>
pe.recv %a {color = -3 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<8xf32>

// -----

// CHECK: unknown port 'up'
pe.route up -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}

// -----

// CHECK: unknown port 'East' (one of north, south, east, west, ramp)
pe.route ramp -> [north, East] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}

// -----

// CHECK: a route may not send wavelets back where they came from
pe.route west -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}

// -----

// CHECK: color must not be negative
pe.route ramp -> [east] {color = -2 : i64, pes = array<i64: 0, 0, 1, 1>}

// -----

// CHECK: rule 1 at [0, 2, 1, 1]: outside the op's PEs [0, 0, 1, 2]
pe.routes [ramp -> [east] at [0, 0, 1, 1], west -> [ramp] at [0, 2, 1, 1]] {color = 0 : i64, pes = array<i64: 0, 0, 1, 2>}

// -----

// CHECK: rule 0 at [0, 0, 1, 1]: a route may not send wavelets back where they came from
pe.routes [west -> [west] at [0, 0, 1, 1]] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}

// -----

// CHECK: a rule's rectangle has four numbers, got [0, 0, 1]
pe.routes [west -> [east] at [0, 0, 1]] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}

// -----

// CHECK: exchange layouts differ in shape
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x4xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>

// -----

// CHECK: exchange src buffer too small
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<8xf32>

// -----

// The destination layout has 1x64 tiles on a 1x1 grid.
// CHECK: exchange dst buffer too small
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 1x1 split [_, _]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>

// -----

// CHECK: color must not be negative
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = -1 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>

// -----

// A network phase names its color; the local part (no phase) uses none.
// CHECK: an exchange's network phase (phase >= 1) has a color; its local part has neither
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>

// -----

// CHECK: an exchange's network phase (phase >= 1) has a color; its local part has neither
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>

// -----

// CHECK: an exchange's phase is at least 1
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = 0 : i64, phase = 0 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
