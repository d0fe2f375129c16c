// RUN: pyflame-opt %s -p allocate-colors | filecheck %s

// Four channels whose rules all disagree at PE (0, 0)'s ramp, on a target of 3 colors. With a
// color each, the fourth would have to replace one of the others' rules: a route switch, which
// nothing orders with the traffic of the channel that left the rule (a PE reconfigures its own
// router when it reaches the pe.route). So allocate-colors keeps 2 colors for barriers (their
// rules set once, first, never switched) and puts every channel on color 0, each switch between
// two barriers: every PE has finished with the earlier channel's traffic before any router
// switches, and every router has switched before anyone sends on the new rules. A barrier
// gathers one word per PE into the last PE of each row (color 1), the last column's into PE
// (1, 1) (color 2), and multicasts back from PE (1, 1) (color 1); on 2x2 PEs each gather is one
// message (barrier-gather.mlir has wider ones).

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %[[B:.*]] = pe.alloc {name = "barrier", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 1 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 1 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [north, west] {color = 1 : i64, pes = array<i64: 1, 1, 1, 1>}
// CHECK-NEXT:    pe.route south -> [west, ramp] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 2 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 2 : i64, pes = array<i64: 1, 1, 1, 1>}
// CHECK-NEXT:    %a = pe.alloc
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.recv %a {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// The barrier before the switch:
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 0, 0, 2, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[B]] combine max {pes = array<i64: 0, 1, 2, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 0, 1, 1, 1>, color = 2 : i64}
// CHECK-NEXT:    pe.recv %[[B]] combine max {pes = array<i64: 1, 1, 1, 1>, color = 2 : i64}
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 1, 1, 1, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[B]] {pes = array<i64: 0, 0, 1, 2>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[B]] {pes = array<i64: 1, 0, 1, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 1, 1>}
// ... and the one after it:
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 0, 0, 2, 1>, color = 1 : i64}
// CHECK-COUNT-6: pe.{{send|recv}} %[[B]]
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.recv %a {color = 0 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-COUNT-7: pe.{{send|recv}} %[[B]]
// CHECK-NEXT:    pe.route ramp -> [east, south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-COUNT-7: pe.{{send|recv}} %[[B]]
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK:         pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK:         func.return

builtin.module attributes {pf.target = #pf.target<"small", num_colors = 3>} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
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
