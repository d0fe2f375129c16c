// RUN: pyflame-opt %s -p unroll-pe-loops | filecheck %s

// unroll-pe-loops spells a pe.loop out: one copy of the body per iteration with that
// iteration's rectangles (pes + i * pes_step), each carried token the previous iteration's
// yielded one, and the loop's result the last iteration's (the wait after the loop joins
// column 3's send).

// CHECK-NOT:  pe.loop
// CHECK:      %[[T0:.*]] = pe.send {{.*}}pes = array<i64: 0, 0, 4, 1>
// CHECK-NEXT: pe.recv
// CHECK-NEXT: pe.wait %[[T0]] {pes = array<i64: 0, 0, 4, 1>}
// CHECK-NEXT: %[[T1:.*]] = pe.send {{.*}}pes = array<i64: 0, 1, 4, 1>
// CHECK-NEXT: pe.recv
// CHECK-NEXT: pe.wait %[[T1]] {pes = array<i64: 0, 1, 4, 1>}
// CHECK-NEXT: %[[T2:.*]] = pe.send {{.*}}pes = array<i64: 0, 2, 4, 1>
// CHECK-NEXT: pe.recv
// CHECK-NEXT: pe.wait %[[T2]] {pes = array<i64: 0, 2, 4, 1>}
// CHECK-NEXT: %[[T3:.*]] = pe.send {{.*}}pes = array<i64: 0, 3, 4, 1>
// CHECK-NEXT: pe.recv
// CHECK-NEXT: pe.wait %[[T3]] {pes = array<i64: 0, 3, 4, 1>}

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
