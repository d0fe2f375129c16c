// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// redistribute is an exchange into a buffer of the new layout, run on the bounding box of
// both grids: its local part (copies within a PE; no color), then one op per network phase, each
// on a channel of its own whose one pe.routes states the dimension-ordered (row, then column)
// paths of the phase's messages (a rule per rectangle of routers), one message per source PE. 8 elements on 2x1 [r] -> 1x4 [c]:
// PE (0,0) keeps elements 0-1 and sends 2-3 to (0,1); PE (1,0) sends 4-5 to (0,2) (phase 1) and
// 6-7 to (0,3) (phase 2: a source sends one message per phase). reshape emits nothing: the
// result is the input's buffer.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @redistribute
// CHECK-NEXT:    %[[IN:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_in %a, %[[IN]] {pes = array<i64: 0, 0, 2, 1>, layout = #pe.layout<8x1xf32 on 2x1 split [r, _]>}
// CHECK-NEXT:    %[[OUT:.*]] = pe.alloc {name = "redistribute", pes = array<i64: 0, 0, 1, 4>} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.exchange %[[OUT]], %[[IN]] {pes = array<i64: 0, 0, 2, 4>, src_layout = #pe.layout<8xf32 on 2x1 split [r]>, dst_layout = #pe.layout<8xf32 on 1x4 split [c]>} : !pe.buf<2xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.routes [ramp -> [east] at [0, 0, 2, 1], south -> [ramp] at [0, 2, 1, 1], west -> [east] at [1, 1, 1, 1], west -> [north] at [1, 2, 1, 1], west -> [ramp] at [0, 1, 1, 1]] {color = 0 : i64, pes = array<i64: 0, 0, 2, 3>}
// CHECK-NEXT:    pe.exchange %[[OUT]], %[[IN]] {pes = array<i64: 0, 0, 2, 4>, color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8xf32 on 2x1 split [r]>, dst_layout = #pe.layout<8xf32 on 1x4 split [c]>}
// CHECK-NEXT:    pe.routes [ramp -> [east] at [1, 0, 1, 1], south -> [ramp] at [0, 3, 1, 1], west -> [east] at [1, 1, 1, 2], west -> [north] at [1, 3, 1, 1]] {color = 1 : i64, pes = array<i64: 0, 0, 2, 4>}
// CHECK-NEXT:    pe.exchange %[[OUT]], %[[IN]] {pes = array<i64: 0, 0, 2, 4>, color = 1 : i64, phase = 2 : i64,
// CHECK-NEXT:    pe.host_out %[[OUT]] {layout = #pe.layout<8xf32 on 1x4 split [c]>, pes = array<i64: 0, 0, 1, 4>}
  func.func @redistribute(%a: tensor<8x1xf32>) -> tensor<8xf32> {
    %0 = mesh.scatter %a : tensor<8x1xf32> -> !mesh.tensor<8x1xf32 on 2x1 split [r, _]>
    %1 = mesh.reshape %0 : !mesh.tensor<8x1xf32 on 2x1 split [r, _]> -> !mesh.tensor<8xf32 on 2x1 split [r]>
    %2 = mesh.redistribute %1 : !mesh.tensor<8xf32 on 2x1 split [r]> -> !mesh.tensor<8xf32 on 1x4 split [c]>
    %3 = mesh.gather %2 : !mesh.tensor<8xf32 on 1x4 split [c]> -> tensor<8xf32>
    func.return %3 : tensor<8xf32>
  }

// Each exchange's phases get channels of their own (allocate-colors reuses the colors later).
// A transpose on 2x2 is one phase (the two off-diagonal blocks swap, their paths share no
// router port); the gather onto one PE is one phase too: every path ends in (0,0) and where two
// paths meet they go on together.
// CHECK-LABEL: func.func @two_exchanges
// CHECK:         pe.exchange {{.*}} {pes = array<i64: 0, 0, 2, 2>, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>}
// CHECK-NEXT:    pe.routes [east -> [south] at [0, 0, 1, 1], north -> [ramp] at [1, 0, 1, 1], ramp -> [east] at [1, 0, 1, 1], ramp -> [west] at [0, 1, 1, 1], south -> [ramp] at [0, 1, 1, 1], west -> [north] at [1, 1, 1, 1]] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.exchange {{.*}} {pes = array<i64: 0, 0, 2, 2>, color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>}
// CHECK:         pe.exchange {{.*}} {pes = array<i64: 0, 0, 2, 2>, src_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, dst_layout = #pe.layout<8x8xf32 on 1x1 split [_, _]>}
// CHECK-NEXT:    pe.routes [east -> [north] at [1, 0, 1, 1], east -> [ramp] at [0, 0, 1, 1], ramp -> [north] at [1, 0, 1, 1], ramp -> [west] at [0, 1, 2, 1], south -> [ramp] at [0, 0, 1, 1]] {color = 1 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.exchange {{.*}} {pes = array<i64: 0, 0, 2, 2>, color = 1 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, dst_layout = #pe.layout<8x8xf32 on 1x1 split [_, _]>}
// CHECK-NOT:     phase = 2
  func.func @two_exchanges(%a: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %0 = mesh.scatter %a : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %1 = mesh.redistribute %0 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf32 on 2x2 split [c, r]>
    %2 = mesh.redistribute %1 : !mesh.tensor<8x8xf32 on 2x2 split [c, r]> -> !mesh.tensor<8x8xf32 on 1x1 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<8x8xf32 on 1x1 split [_, _]> -> tensor<8x8xf32>
    func.return %3 : tensor<8x8xf32>
  }

// CHECK-LABEL: func.func @reshape
// CHECK-NEXT:    %[[X:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.host_in %a, %[[X]]
// CHECK-NEXT:    pe.host_out %[[X]] {layout = #pe.layout<1x64xf32 on 4x1 split [_, r]>, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<16xf32> -> tensor<1x64xf32>
  func.func @reshape(%a: tensor<64xf32>) -> tensor<1x64xf32> {
    %0 = mesh.scatter %a : tensor<64xf32> -> !mesh.tensor<64xf32 on 4x1 split [r]>
    %1 = mesh.reshape %0 : !mesh.tensor<64xf32 on 4x1 split [r]> -> !mesh.tensor<1x64xf32 on 4x1 split [_, r]>
    %2 = mesh.gather %1 : !mesh.tensor<1x64xf32 on 4x1 split [_, r]> -> tensor<1x64xf32>
    func.return %2 : tensor<1x64xf32>
  }
}
