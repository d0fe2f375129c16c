// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p allocate-colors | filecheck %s

// Three channels whose rules disagree at PE (0, 0)'s ramp on a target of two colors: the third
// must replace a rule an earlier channel left, and ordering that switch with the earlier
// traffic needs two colors for barriers besides the one it uses. Refused, naming its routes,
// their PEs, the colors and the op that last used them.

// CHECK:      error: net.py:12: these routes (PEs (0, 0)..(0, 0)) replace rules an earlier transfer left on every free color, or deliver to PEs it delivered to (colors 0-1, last used by pe.send (PEs (0, 0)..(0, 0))), and ordering the switch with that traffic needs 2 more colors than small's 2
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small", num_colors = 2>} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.send %a {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [south] {color = 9 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.send %a {color = 9 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [east, south] {color = 11 : i64, pes = array<i64: 0, 0, 1, 1>} loc("net.py":12:0)
    pe.send %a {color = 11 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    func.return
  }
}
