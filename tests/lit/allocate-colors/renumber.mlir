// RUN: pyflame-opt %s -p allocate-colors | filecheck %s

// Virtual channels (any numbers) become the target's colors, first use first. A channel's life
// runs from its first to its last op (routes, sends, receives); one that starts after another
// ended reuses its color. Here 7 and 9 overlap (colors 0 and 1); 12 starts after both ended and
// takes color 0 again, though the target has only 2 colors; so does the exchange channel 3,
// which starts after 12 ended. Channel 12's routes set on color 0 the rules channel 7 left
// there: they do nothing and are removed.

// CHECK-LABEL: func.func @main
// CHECK:         pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.send %b {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %b {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %a {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %b combine sum {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<4xf32>
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
