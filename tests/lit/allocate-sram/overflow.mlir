// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p allocate-sram | filecheck %s

// A buffer that does not fit is refused with its name, its size, the PEs and bytes needed there,
// and the user's line taken from the name (`what@file:line`). PE (1, 1) holds both a 32 KiB and a
// 16 KiB buffer: 48 KiB of the 44 KiB for data.

// CHECK:      net.py:4: error: SRAM overflow: buffer 'second@net.py:4' (16.0 KiB per PE) does not fit:
// CHECK-SAME: the PEs [1, 1, 1, 1] need 48.0 KiB at this point, but each has 48.0 KiB (44.0 KiB for data on small).
// CHECK-SAME: Use a layout over more PEs.
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main() {
    %a = pe.alloc {name = "first@net.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8192xf32>
    %b = pe.alloc {name = "second@net.py:4", pes = array<i64: 1, 1, 1, 1>} : !pe.buf<4096xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8192xf32>
    pe.fill %b {value = 1.0 : f64, pes = array<i64: 1, 1, 1, 1>} : !pe.buf<4096xf32>
    pe.unary neg %a, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8192xf32>, !pe.buf<8192xf32>
    func.return
  }
}
