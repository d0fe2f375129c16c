// RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s

// Two buffers live at the same time on a common PE must not share SRAM bytes (allocate-sram's
// rule: a buffer lives from its first to its last use); the later alloc fails verification,
// naming the other. Buffers whose lives or PEs are disjoint may share bytes. Each chunk below
// runs on its own (see Inputs/each-chunk.py).

// CHECK-LABEL: chunk 1
// CHECK:       invalid-sram.mlir:[[# @LINE + 6]]:5: error: 'pe.alloc' op buffer 'b' (SRAM bytes [8, 24) on PEs [0, 0, 2, 2]) overlaps buffer 'a' (bytes [0, 16) on PEs [0, 0, 2, 2]) while both are live; run allocate-sram or give them disjoint offsets
// CHECK-NOT:   Traceback
// CHECK:       exit status: 1
builtin.module {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>, offset = 8 : i64} : !pe.buf<4xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.unary neg %b, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>
    func.return
  }
}

// -----

// The same offsets on PEs that only share PE (1, 1).
// CHECK-LABEL: chunk 2
// CHECK:       invalid-sram.mlir:[[# @LINE + 5]]:5: error: 'pe.alloc' op buffer 'b' (SRAM bytes [0, 16) on PEs [1, 1, 2, 2]) overlaps buffer 'a'
// CHECK:       exit status: 1
builtin.module {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 1, 1, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.fill %b {value = 1.0 : f64, pes = array<i64: 1, 1, 2, 2>} : !pe.buf<4xf32>
    pe.copy %a, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>
    func.return
  }
}

// -----

// Disjoint lives (a is dead once b is first written), or disjoint PEs: fine.
// CHECK-LABEL: chunk 3
// CHECK:       %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
// CHECK:       exit status: 0
builtin.module {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
    %c = pe.alloc {name = "c", pes = array<i64: 2, 2, 2, 2>, offset = 0 : i64} : !pe.buf<4xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.fill %c {value = 1.0 : f64, pes = array<i64: 2, 2, 2, 2>} : !pe.buf<4xf32>
    pe.fill %b {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    func.return
  }
}

// -----

// pe kernels work on at least one element.
// CHECK-LABEL: chunk 4
// CHECK:       invalid-sram.mlir:[[# @LINE + 2]]:26: error: a pe buffer holds at least one element, got !pe.buf<0xf32>
// CHECK:       exit status: 1
%0 = "test.op"() : () -> !pe.buf<0xf32>

// -----

// CHECK-LABEL: chunk 5
// CHECK:       invalid-sram.mlir:[[# @LINE + 4]]:1: error: 'pe.reduce' op 'pe.reduce' shape [0, 4] must be positive (no zero-size dims)
// CHECK:       exit status: 1
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32>
%d = pe.alloc {name = "d", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
pe.reduce sum %d, %s {shape = array<i64: 0, 4>, dims = array<i64: 0>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<1xf32>

// -----

// CHECK-LABEL: chunk 6
// CHECK:       invalid-sram.mlir:[[# @LINE + 4]]:1: error: 'pe.matmul_acc' op 'pe.matmul_acc' m, k, n [2, 0, 2] must be positive (no zero-size dims)
// CHECK:       exit status: 1
%c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32>
pe.matmul_acc %c, %a, %a {m = 2 : i64, k = 0 : i64, n = 2 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<1xf32>, !pe.buf<1xf32>
