// RUN: pyflame-opt %s -p allocate-sram | filecheck %s

// Offsets are first fit from 0, each buffer rounded up to 16 bytes. A buffer lives from its first
// to its last use; a later buffer may take the space of one that is dead.

// CHECK-LABEL: func.func @aligned
// 3xf32 = 12 bytes -> [0, 16); 5xf32 = 20 bytes -> [16, 48); 1xf16 -> [48, 64).
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<3xf32>
// CHECK-NEXT:    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>, offset = 16 : i64} : !pe.buf<5xf32>
// CHECK-NEXT:    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>, offset = 48 : i64} : !pe.buf<1xf16>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @aligned() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<5xf32>
    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf16>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>
    pe.fill %b {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<5xf32>
    pe.fill %c {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf16>
    pe.unary neg %a, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xf32>, !pe.buf<3xf32>
    pe.unary neg %b, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<5xf32>, !pe.buf<5xf32>
    func.return
  }

// Buffers are placed in order of first use: %a [0, 64), %d [64, 80), %b [80, 144) (%a is still
// read by the op that first writes %b). %a is dead once %b is made, so %c takes its place.
// CHECK-LABEL: func.func @reuse
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>, offset = 80 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %d = pe.alloc {name = "d", pes = array<i64: 0, 0, 2, 2>, offset = 64 : i64} : !pe.buf<4xf32>
  func.func @reuse() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %d = pe.alloc {name = "d", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.fill %d {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.unary neg %b, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.unary relu %c, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.unary neg %d, %d {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>
    pe.unary neg %c, %c {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    func.return
  }

// Buffers live at the same time may share bytes when their PE rectangles do not intersect.
// %q and %r are both on PEs disjoint from %p's, so each starts at 0... except that %r's
// rectangle meets %q's at PE (3, 3).
// CHECK-LABEL: func.func @disjoint
// CHECK-NEXT:    %p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<8xf32>
// CHECK-NEXT:    %q = pe.alloc {name = "q", pes = array<i64: 2, 2, 2, 2>, offset = 0 : i64} : !pe.buf<8xf32>
// CHECK-NEXT:    %r = pe.alloc {name = "r", pes = array<i64: 3, 3, 1, 4>, offset = 32 : i64} : !pe.buf<8xf32>
// CHECK-NEXT:    %s = pe.alloc {name = "s", pes = array<i64: 0, 2, 2, 2>, offset = 0 : i64} : !pe.buf<8xf32>
  func.func @disjoint() {
    %p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
    %q = pe.alloc {name = "q", pes = array<i64: 2, 2, 2, 2>} : !pe.buf<8xf32>
    %r = pe.alloc {name = "r", pes = array<i64: 3, 3, 1, 4>} : !pe.buf<8xf32>
    %s = pe.alloc {name = "s", pes = array<i64: 0, 2, 2, 2>} : !pe.buf<8xf32>
    pe.fill %p {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
    pe.fill %q {value = 1.0 : f64, pes = array<i64: 2, 2, 2, 2>} : !pe.buf<8xf32>
    pe.fill %r {value = 1.0 : f64, pes = array<i64: 3, 3, 1, 4>} : !pe.buf<8xf32>
    pe.fill %s {value = 1.0 : f64, pes = array<i64: 0, 2, 2, 2>} : !pe.buf<8xf32>
    pe.unary neg %p, %p {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>, !pe.buf<8xf32>
    pe.unary neg %q, %q {pes = array<i64: 2, 2, 2, 2>} : !pe.buf<8xf32>, !pe.buf<8xf32>
    pe.unary neg %r, %r {pes = array<i64: 3, 3, 1, 4>} : !pe.buf<8xf32>, !pe.buf<8xf32>
    pe.unary neg %s, %s {pes = array<i64: 0, 2, 2, 2>} : !pe.buf<8xf32>, !pe.buf<8xf32>
    func.return
  }

// An offset already present is recomputed.
// CHECK-LABEL: func.func @reassigned
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>, offset = 0 : i64} : !pe.buf<4xf32>
  func.func @reassigned() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>, offset = 4096 : i64} : !pe.buf<4xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    func.return
  }
}
