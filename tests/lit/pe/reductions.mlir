// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// pe.reduce takes every reduction kind; pe.recv combines a message with its buffer by a kind
// (`combine`), or overwrites it without one.

// CHECK-LABEL: func.func @kinds()
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %r = pe.alloc {name = "r", pes = array<i64: 0, 0, 2, 2>, offset = 64 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    %i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>, offset = 80 : i64} : !pe.buf<4xi32>
// CHECK-NEXT:    pe.reduce max %r, %a {shape = array<i64: 4, 4>, dims = array<i64: 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.reduce min %r, %a {shape = array<i64: 4, 4>, dims = array<i64: 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.reduce prod %r, %a {shape = array<i64: 4, 4>, dims = array<i64: 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.recv %r combine max {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %i combine min {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<4xi32>
// CHECK-NEXT:    pe.recv %r combine prod {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %r {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
func.func @kinds() {
  %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
  %r = pe.alloc {name = "r", pes = array<i64: 0, 0, 2, 2>, offset = 64 : i64} : !pe.buf<4xf32>
  %i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>, offset = 80 : i64} : !pe.buf<4xi32>
  pe.reduce max %r, %a {shape = array<i64: 4, 4>, dims = array<i64: 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<16xf32>
  pe.reduce min %r, %a {shape = array<i64: 4, 4>, dims = array<i64: 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<16xf32>
  pe.reduce prod %r, %a {shape = array<i64: 4, 4>, dims = array<i64: 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<16xf32>
  pe.recv %r combine max {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>} : !pe.buf<4xf32>
  pe.recv %i combine min {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<4xi32>
  pe.recv %r combine prod {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
  pe.recv %r {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
  func.return
}
