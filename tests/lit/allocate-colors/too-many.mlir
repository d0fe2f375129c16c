// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p allocate-colors | filecheck %s

// Three channels live at once on a target with two colors: refused, naming the op where the
// third one starts, its PEs and the colors in use there (with the ops that opened them).

// CHECK:      error: net.py:9: more than 2 routing colors are needed at once on small; split the program or use fewer concurrent collectives
// CHECK-SAME: (on PEs (0, 0)..(0, 0); in use there: colors 0-1 by pe.route (PEs (0, 0)..(0, 0)))
// CHECK-NOT:  Traceback
// CHECK-NOT:  pe.send
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small", num_colors = 2>} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route ramp -> [east] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route ramp -> [east] {color = 2 : i64, pes = array<i64: 0, 0, 1, 1>} loc("net.py":9:0)
    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.send %a {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.send %a {color = 2 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    func.return
  }
}
