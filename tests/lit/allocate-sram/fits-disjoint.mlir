// RUN: pyflame-opt %s -p allocate-sram | filecheck %s

// As overflow.mlir, but the 16 KiB buffer is on a PE the 32 KiB one does not cover: both start
// at offset 0 and the program fits.

// CHECK: pe.alloc {name = "first@net.py:3", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<8192xf32>
// CHECK: pe.alloc {name = "second@net.py:4", pes = array<i64: 2, 2, 1, 1>, offset = 0 : i64} : !pe.buf<4096xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main() {
    %a = pe.alloc {name = "first@net.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8192xf32>
    %b = pe.alloc {name = "second@net.py:4", pes = array<i64: 2, 2, 1, 1>} : !pe.buf<4096xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8192xf32>
    pe.fill %b {value = 1.0 : f64, pes = array<i64: 2, 2, 1, 1>} : !pe.buf<4096xf32>
    pe.unary neg %a, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8192xf32>, !pe.buf<8192xf32>
    func.return
  }
}
