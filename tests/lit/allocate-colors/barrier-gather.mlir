// RUN: pyflame-opt %s -p allocate-colors | filecheck %s

// switch-barriers.mlir's four disagreeing channels on a program over 3x4 PEs: its barriers
// gather. Every PE but the last column's sends its word on color 1 (ramp east; passed on east:
// the row's senders merge), the last PE of each row takes the row's 3 words in one receive
// (`messages = 3`, `combine max`: any arrival order gives the same word); the last column sends
// its words down on color 2 to PE (2, 3), which takes 2 and multicasts back on color 1.

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %[[B:.*]] = pe.alloc {name = "barrier", pes = array<i64: 0, 0, 3, 4>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 1 : i64, pes = array<i64: 0, 0, 3, 3>}
// CHECK-NEXT:    pe.route west -> [east] {color = 1 : i64, pes = array<i64: 0, 1, 3, 2>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 1 : i64, pes = array<i64: 0, 3, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [north, west] {color = 1 : i64, pes = array<i64: 2, 3, 1, 1>}
// CHECK-NEXT:    pe.route south -> [north, west, ramp] {color = 1 : i64, pes = array<i64: 1, 3, 1, 1>}
// CHECK-NEXT:    pe.route south -> [west, ramp] {color = 1 : i64, pes = array<i64: 0, 3, 1, 1>}
// CHECK-NEXT:    pe.route east -> [west, ramp] {color = 1 : i64, pes = array<i64: 0, 1, 3, 2>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 2 : i64, pes = array<i64: 0, 3, 2, 1>}
// CHECK-NEXT:    pe.route north -> [south] {color = 2 : i64, pes = array<i64: 1, 3, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 2 : i64, pes = array<i64: 2, 3, 1, 1>}
// CHECK:         pe.recv %a {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 0, 0, 3, 3>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[B]] combine max {pes = array<i64: 0, 3, 3, 1>, color = 1 : i64, messages = 3 : i64}
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 0, 3, 2, 1>, color = 2 : i64}
// CHECK-NEXT:    pe.recv %[[B]] combine max {pes = array<i64: 2, 3, 1, 1>, color = 2 : i64, messages = 2 : i64}
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 2, 3, 1, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[B]] {pes = array<i64: 0, 0, 2, 4>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[B]] {pes = array<i64: 2, 0, 1, 3>, color = 1 : i64}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK:         func.return

builtin.module attributes {pf.target = #pf.target<"small", num_colors = 3>} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 3, 4>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [ramp] {color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.send %a {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 7 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [south] {color = 9 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route north -> [ramp] {color = 9 : i64, pes = array<i64: 1, 0, 1, 1>}
    pe.send %a {color = 9 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 9 : i64, pes = array<i64: 1, 0, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [east, south] {color = 11 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.send %a {color = 11 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 11 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 11 : i64, pes = array<i64: 1, 0, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [east, ramp] {color = 12 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.send %a {color = 12 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 12 : i64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
    func.return
  }
}
