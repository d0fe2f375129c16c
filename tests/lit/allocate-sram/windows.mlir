// RUN: pyflame-opt %s -p allocate-sram | filecheck %s

// A window (`pe.alloc in %whole at N`) is placed with the buffer it is a window of, at that
// buffer's offset plus its first element's bytes, and that buffer lives while any of its
// windows does: %b, used while the window %w1 is still read (after %p's own last use), does
// not take %p's bytes; %c, after every use of %p and its windows, does. The verifier's overlap
// check lets a window share its parent's bytes.
// CHECK-LABEL: func.func @windows
// CHECK-NEXT:    %p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    %w0 = pe.alloc in %p : !pe.buf<12xf32> at 0 {name = "w0", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    %w1 = pe.alloc in %p : !pe.buf<12xf32> at 4 {name = "w1", pes = array<i64: 0, 0, 2, 2>, offset = 16 : i64} : !pe.buf<8xf32>
// CHECK-NEXT:    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>, offset = 48 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<12xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @windows() {
    %p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
    %w0 = pe.alloc in %p : !pe.buf<12xf32> at 0 {name = "w0", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    %w1 = pe.alloc in %p : !pe.buf<12xf32> at 4 {name = "w1", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
    pe.fill %w0 {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.fill %w1 {value = 2.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
    pe.send %p {color = 0 : i64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<12xf32>
    pe.recv %p combine sum {color = 0 : i64, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<12xf32>
    pe.fill %b {value = 3.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
    pe.unary neg %w1, %w1 {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>, !pe.buf<8xf32>
    pe.copy %c, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>, !pe.buf<12xf32>
    func.return
  }
}
