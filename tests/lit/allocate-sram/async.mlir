// RUN: pyflame-opt %s -p allocate-sram | filecheck %s

// An asynchronous send reads its buffer until the pe.wait of its token: %a stays live through
// the wait, so %b (first used after the send, before the wait) does not take its bytes; %c,
// first used after the wait, does.
// CHECK-LABEL: func.func @send_until_wait
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 2>, offset = 64 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 2>, offset = 0 : i64} : !pe.buf<16xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @send_until_wait() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>
    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>
    %t = pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<16xf32> -> !pe.token
    pe.fill %b {value = 2.0 : f64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>
    pe.recv %b {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<16xf32>
    pe.wait %t {pes = array<i64: 0, 0, 1, 1>}
    pe.fill %c {value = 3.0 : f64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>
    func.return
  }
}
