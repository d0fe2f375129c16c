// RUN: pyflame-opt %s -p allocate-colors | filecheck %s

// Virtual channels (any numbers) become the target's colors, first use first. A channel's life
// runs from its first to its last op (routes, sends, receives); one that starts after another
// ended reuses its color. Here 7 and 9 overlap (colors 0 and 1); 12 starts after both ended and
// takes color 1 again, though the target has only 2 colors: its rules coexist with 9's (other
// ports), and it delivers to PE (0, 1), which never received on color 1 (on color 0, which
// delivered to (0, 1) before, it could be reused too, as it repeats 7's rules, but a color
// without shared receivers comes first). The exchange channel 3, which starts after 12 ended,
// takes color 0.

// CHECK-LABEL: func.func @main
// CHECK:         pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.send %b {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %b {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %a {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.send %a {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %b combine sum {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout
builtin.module attributes {pf.target = #pf.target<"small", num_colors = 2>} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [ramp] {color = 7 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.route ramp -> [west] {color = 9 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.route east -> [ramp] {color = 9 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.send %a {color = 7 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.send %b {color = 9 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    pe.recv %b {color = 7 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    pe.recv %a {color = 9 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.route ramp -> [east] {color = 12 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [ramp] {color = 12 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.send %a {color = 12 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.recv %b combine sum {color = 12 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
    pe.exchange %b, %a {color = 3 : i64, phase = 1 : i64, src_layout = #pe.layout<2xf32 on 1x2 split [c]>, dst_layout = #pe.layout<2xf32 on 1x2 split [c]>, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>
    func.return
  }
}
