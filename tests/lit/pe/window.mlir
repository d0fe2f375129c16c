// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// pe.send and pe.recv of a slice of the buffer (`window [first element, count]`: the halves
// and segments of the two_way and rsag collectives) survive a print/parse round trip, with
// combine, forward and an asynchronous token.

// CHECK:      pe.send %a window [4, 6] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<10xf32>
// CHECK-NEXT: pe.recv %a window [4, 6] combine sum forward {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf32>
// CHECK-NEXT: pe.recv %a window [0, 4] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf32>
// CHECK-NEXT: %t = pe.send %h window [2, 7] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<10xf16> -> !pe.token
// CHECK-NEXT: %u = pe.recv %h window [2, 7] combine max {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf16> -> !pe.token

builtin.module {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<10xf32>
    %h = pe.alloc {name = "h", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<10xf16>
    pe.send %a window [4, 6] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<10xf32>
    pe.recv %a window [4, 6] combine sum forward {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf32>
    pe.recv %a window [0, 4] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf32>
    %t = pe.send %h window [2, 7] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<10xf16> -> !pe.token
    %u = pe.recv %h window [2, 7] combine max {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf16> -> !pe.token
    pe.wait %t {pes = array<i64: 0, 0, 1, 1>}
    pe.wait %u {pes = array<i64: 0, 1, 1, 1>}
    func.return
  }
}
