// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s
// RUN: pyflame-run %s --seed 1 | filecheck %s --check-prefix=SIM

// pe.broadcast and pe.exchange's index map (offset, stride) and reshape form (each exchange a
// local part and network phases with their routes, as lower-mesh-to-pe emits them) survive a
// print/parse round trip, and the program runs on the simulator.

// CHECK-LABEL: func.func @main(%x: tensor<5x6xf32>) -> (tensor<2x2xf32>, tensor<7x9xf32>, tensor<3x5x6xf32>, tensor<30xf32>)
// CHECK:         pe.broadcast %bc, %a {src_shape = array<i64: 1, 3, 3>, dst_shape = array<i64: 3, 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<27xf32>, !pe.buf<9xf32>
// CHECK:    pe.exchange %s, %a {src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<2x2xf32 on 1x1 split [_, _]>, offset = array<i64: 1, 0>, stride = array<i64: 2, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<9xf32>
// CHECK:    pe.fill %p {value = -1.000000e+00 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32>
// CHECK:    pe.exchange %p, %a {src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<7x9xf32 on 2x2 split [r, c]>, offset = array<i64: -1, -2>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32>, !pe.buf<9xf32>
// CHECK:    pe.exchange %f, %a {src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<30xf32 on 1x4 split [c]>, pes = array<i64: 0, 0, 2, 4>} : !pe.buf<8xf32>, !pe.buf<9xf32>
// SIM: output 0: shape=(2, 2)
// SIM: output 1: shape=(7, 9)
// SIM: output 2: shape=(3, 5, 6)
// SIM: output 3: shape=(30,)
// SIM: cycles
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<5x6xf32>) -> (tensor<2x2xf32>, tensor<7x9xf32>, tensor<3x5x6xf32>, tensor<30xf32>) {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<9xf32>
    %s = pe.alloc {name = "s", pes = array<i64: 0, 0, 1, 1>, offset = 48 : i64} : !pe.buf<4xf32>
    %p = pe.alloc {name = "p", pes = array<i64: 0, 0, 2, 2>, offset = 64 : i64} : !pe.buf<20xf32>
    %bc = pe.alloc {name = "bc", pes = array<i64: 0, 0, 2, 2>, offset = 144 : i64} : !pe.buf<27xf32>
    %f = pe.alloc {name = "f", pes = array<i64: 0, 0, 1, 4>, offset = 256 : i64} : !pe.buf<8xf32>
    pe.host_in %x, %a {layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<5x6xf32>, !pe.buf<9xf32>
    pe.broadcast %bc, %a {src_shape = array<i64: 1, 3, 3>, dst_shape = array<i64: 3, 3, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<27xf32>, !pe.buf<9xf32>
    pe.exchange %s, %a {src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<2x2xf32 on 1x1 split [_, _]>, offset = array<i64: 1, 0>, stride = array<i64: 2, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<9xf32>
    pe.route east -> [north] {color = 0 : i64, pes = array<i64: 1, 0, 1, 1>}
    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route ramp -> [north] {color = 0 : i64, pes = array<i64: 1, 0, 1, 1>}
    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
    pe.route south -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.exchange %s, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<2x2xf32 on 1x1 split [_, _]>, offset = array<i64: 1, 0>, stride = array<i64: 2, 3>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, !pe.buf<9xf32>
    pe.fill %p {value = -1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32>
    pe.exchange %p, %a {src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<7x9xf32 on 2x2 split [r, c]>, offset = array<i64: -1, -2>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32>, !pe.buf<9xf32>
    pe.exchange %f, %a {src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<30xf32 on 1x4 split [c]>, pes = array<i64: 0, 0, 2, 4>} : !pe.buf<8xf32>, !pe.buf<9xf32>
    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route ramp -> [east] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route ramp -> [east] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 2, 1, 1>}
    pe.route west -> [east] {color = 1 : i64, pes = array<i64: 1, 1, 1, 1>}
    pe.route west -> [north] {color = 1 : i64, pes = array<i64: 1, 2, 1, 1>}
    pe.route west -> [ramp] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.exchange %f, %a {color = 1 : i64, phase = 1 : i64, src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<30xf32 on 1x4 split [c]>, pes = array<i64: 0, 0, 2, 4>} : !pe.buf<8xf32>, !pe.buf<9xf32>
    pe.route ramp -> [east] {color = 2 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.route ramp -> [east] {color = 2 : i64, pes = array<i64: 1, 0, 1, 2>}
    pe.route south -> [ramp] {color = 2 : i64, pes = array<i64: 0, 3, 1, 1>}
    pe.route west -> [east] {color = 2 : i64, pes = array<i64: 1, 1, 1, 2>}
    pe.route west -> [north] {color = 2 : i64, pes = array<i64: 1, 3, 1, 1>}
    pe.route west -> [ramp] {color = 2 : i64, pes = array<i64: 0, 2, 1, 1>}
    pe.exchange %f, %a {color = 2 : i64, phase = 2 : i64, src_layout = #pe.layout<5x6xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<30xf32 on 1x4 split [c]>, pes = array<i64: 0, 0, 2, 4>} : !pe.buf<8xf32>, !pe.buf<9xf32>
    %o1 = pe.host_out %s {layout = #pe.layout<2x2xf32 on 1x1 split [_, _]>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32> -> tensor<2x2xf32>
    %o2 = pe.host_out %p {layout = #pe.layout<7x9xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32> -> tensor<7x9xf32>
    %o3 = pe.host_out %bc {layout = #pe.layout<3x5x6xf32 on 2x2 split [_, r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<27xf32> -> tensor<3x5x6xf32>
    %o4 = pe.host_out %f {layout = #pe.layout<30xf32 on 1x4 split [c]>, pes = array<i64: 0, 0, 1, 4>} : !pe.buf<8xf32> -> tensor<30xf32>
    func.return %o1, %o2, %o3, %o4 : tensor<2x2xf32>, tensor<7x9xf32>, tensor<3x5x6xf32>, tensor<30xf32>
  }
}
