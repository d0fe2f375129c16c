// RUN: pyflame-opt %s | filecheck %s
// RUN: pyflame-opt %s | pyflame-opt | filecheck %s

// pe.loop: a repeated step kept a loop. Column k of a 4x4 grid multicasts its tile along its
// rows at iteration k (pes_step moves the send one column per iteration); the send's token is
// carried to the next iteration (iter_args), which joins it, and the last one is the loop's
// result, joined after the loop.

// CHECK-LABEL: func.func @main
// CHECK:       %[[T:.*]] = pe.send %{{.*}} {pes = array<i64: 0, 0, 4, 1>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
// CHECK:       %[[R:.*]] = pe.loop %[[K:.*]] = 1 to 4 iter_args(%[[C:.*]] = %[[T]]) -> (!pe.token) {
// CHECK-NEXT:    pe.recv %{{.*}} {pes = array<i64: 0, 0, 4, 4>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.wait %[[C]] {pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
// CHECK-NEXT:    %[[S:.*]] = pe.send %{{.*}} {pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
// CHECK-NEXT:    pe.yield %[[S]]
// CHECK-NEXT:  }
// CHECK-NEXT:  pe.recv
// CHECK-NEXT:  pe.wait %[[R]] {pes = array<i64: 0, 3, 4, 1>}

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>, offset = 0 : i64} : !pe.buf<4xf32>
    pe.host_in %x, %a {pes = array<i64: 0, 0, 4, 4>, layout = #pe.layout<8x8xf32 on 4x4 split [r, c]>} : tensor<8x8xf32>, !pe.buf<4xf32>
    %w = pe.alloc {name = "w", pes = array<i64: 0, 0, 4, 4>, offset = 16 : i64} : !pe.buf<4xf32>
    pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>}
    pe.route ramp -> [west, east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 4, 2>}
    pe.route ramp -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 3, 4, 1>}
    pe.route west -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 4, 2>}
    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 3, 4, 1>}
    pe.route east -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 4, 2>}
    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>}
    %t = pe.send %a {pes = array<i64: 0, 0, 4, 1>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
    %r = pe.loop %k = 1 to 4 iter_args(%c = %t) -> (!pe.token) {
      pe.recv %w {pes = array<i64: 0, 0, 4, 4>, color = 0 : i64} : !pe.buf<4xf32>
      pe.wait %c {pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
      %s = pe.send %a {pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>, color = 0 : i64} : !pe.buf<4xf32> -> !pe.token
      pe.yield %s
    }
    pe.recv %w {pes = array<i64: 0, 0, 4, 4>, color = 0 : i64} : !pe.buf<4xf32>
    pe.wait %r {pes = array<i64: 0, 3, 4, 1>}
    %o = pe.host_out %w {layout = #pe.layout<8x8xf32 on 4x4 split [r, c]>, pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32> -> tensor<8x8xf32>
    func.return %o : tensor<8x8xf32>
  }
}
