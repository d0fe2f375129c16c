// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.allreduce / mesh.reduce with each `algorithm` (pyflame.core.collectives). `chain`: a
// pipelined chain along each split mesh axis toward position 0: the far PE sends its partial,
// each middle PE adds its own into the passing stream and forwards it (`pe.recv combine sum
// forward`), PE 0 adds its own (`pe.recv combine sum`); in an allreduce of a few wavelets per PE
// (at most a one-hop path's queues) the root's last receive forwards the total as it arrives
// onto a multicast back on the same color (every other PE of the line receives it; over the
// grid when both axes were reduced), else the root sends it once it has it. `two_chains`: chains from both ends meet at the middle PE, which
// receives both streams (the one from below on one channel, then the one from above on another;
// a plan's channels are routed before its first transfer, so they never share a color).
// `tree`: groups of ~sqrt(p) chain to their root, then the group roots
// chain over pass-through routes (the PEs in between only forward). mesh.reduce has no way back
// (a two_chains total is moved from the middle to PE 0 by a plain send). The partial buffer is
// reduced in place when the collective is its only use.

builtin.module attributes {pf.target = #pf.target<"small">} {

// Along the columns of a 2x3 grid (dim 1 split over c).
// CHECK-LABEL: func.func @along_columns
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 2, 3>, layout = #pe.layout<8x3xf32 on 2x3 split [r, c]>} : tensor<8x3xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "partial", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.reduce sum %1, %0 {pes = array<i64: 0, 0, 2, 3>, shape = array<i64: 4, 1>, dims = array<i64: 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 0, 1, 2, 2>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route west -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 2, 2, 1>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 0, 2, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %1 combine sum forward {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %1 combine sum forward {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 0, 1, 2, 2>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<8x1xf32 on 2x3 split [r, _]>, pes = array<i64: 0, 0, 2, 3>} : !pe.buf<4xf32> -> tensor<8x1xf32>
  func.func @along_columns(%a: tensor<8x3xf32>) -> tensor<8x1xf32> {
    %0 = mesh.scatter %a : tensor<8x3xf32> -> !mesh.tensor<8x3xf32 on 2x3 split [r, c]>
    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<8x3xf32 on 2x3 split [r, c]> -> !mesh.tensor<8x3xf32 on 2x3 split [r, c]>
    %2 = mesh.allreduce sum %1 dims [1] algorithm chain : !mesh.tensor<8x3xf32 on 2x3 split [r, c]> -> !mesh.tensor<8x1xf32 on 2x3 split [r, _]>
    %3 = mesh.gather %2 : !mesh.tensor<8x1xf32 on 2x3 split [r, _]> -> tensor<8x1xf32>
    func.return %3 : tensor<8x1xf32>
  }

// Along the rows of a 3x2 grid (dim 0 split over r).
// CHECK-LABEL: func.func @along_rows
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 3, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 3, 2>, layout = #pe.layout<6x4xf32 on 3x2 split [r, c]>} : tensor<6x4xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "partial", pes = array<i64: 0, 0, 3, 2>} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.reduce sum %1, %0 {pes = array<i64: 0, 0, 3, 2>, shape = array<i64: 2, 2>, dims = array<i64: 0>} : !pe.buf<2xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 0 : i64, pes = array<i64: 1, 0, 2, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [south, ramp] {color = 0 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 2, 0, 1, 2>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 2, 0, 1, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %1 combine sum forward {pes = array<i64: 1, 0, 1, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %1 combine sum forward {pes = array<i64: 0, 0, 1, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 1, 0, 2, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<1x4xf32 on 3x2 split [_, c]>, pes = array<i64: 0, 0, 3, 2>} : !pe.buf<2xf32> -> tensor<1x4xf32>
  func.func @along_rows(%a: tensor<6x4xf32>) -> tensor<1x4xf32> {
    %0 = mesh.scatter %a : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 3x2 split [r, c]>
    %1 = mesh.local_reduce sum %0 dims [0] : !mesh.tensor<6x4xf32 on 3x2 split [r, c]> -> !mesh.tensor<3x4xf32 on 3x2 split [r, c]>
    %2 = mesh.allreduce sum %1 dims [0] algorithm chain : !mesh.tensor<3x4xf32 on 3x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 3x2 split [_, c]>
    %3 = mesh.gather %2 : !mesh.tensor<1x4xf32 on 3x2 split [_, c]> -> tensor<1x4xf32>
    func.return %3 : tensor<1x4xf32>
  }

// Both axes: first along the columns (channels 0, 1), then along the rows (channels 2, 3).
// CHECK-LABEL: func.func @both_axes
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<4x4xf32 on 2x2 split [r, c]>} : tensor<4x4xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "partial", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.reduce sum %1, %0 {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 2, 2>, dims = array<i64: 0, 1>} : !pe.buf<1xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %1 combine sum {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [east, south] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp, south] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 1, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %1 combine sum forward {pes = array<i64: 0, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 1, 0, 1, 2>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 0, 1, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<1x1xf32 on 2x2 split [_, _]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32> -> tensor<1x1xf32>
  func.func @both_axes(%a: tensor<4x4xf32>) -> tensor<1x1xf32> {
    %0 = mesh.scatter %a : tensor<4x4xf32> -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
    %1 = mesh.local_reduce sum %0 dims [0, 1] : !mesh.tensor<4x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x2xf32 on 2x2 split [r, c]>
    %2 = mesh.allreduce sum %1 dims [0, 1] algorithm chain : !mesh.tensor<2x2xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x1xf32 on 2x2 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xf32 on 2x2 split [_, _]> -> tensor<1x1xf32>
    func.return %3 : tensor<1x1xf32>
  }

// The partials are used again after the allreduce: it works on a copy.
// CHECK-LABEL: func.func @partials_kept
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 1, 2>, layout = #pe.layout<4x2xf32 on 1x2 split [_, c]>} : tensor<4x2xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "partial", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.reduce sum %1, %0 {pes = array<i64: 0, 0, 1, 2>, shape = array<i64: 4, 1>, dims = array<i64: 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %2 = pe.alloc {name = "allreduce", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.copy %2, %1 {pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.send %2 {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %2 combine sum forward {pes = array<i64: 0, 0, 1, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %2 {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    %3 = pe.host_out %2 {layout = #pe.layout<4x1xf32 on 1x2 split [_, _]>, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %4 = pe.host_out %1 {layout = #pe.layout<4x2xf32 on 1x2 split [_, c]>, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32> -> tensor<4x2xf32>
  func.func @partials_kept(%a: tensor<4x2xf32>) -> (tensor<4x1xf32>, tensor<4x2xf32>) {
    %0 = mesh.scatter %a : tensor<4x2xf32> -> !mesh.tensor<4x2xf32 on 1x2 split [_, c]>
    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<4x2xf32 on 1x2 split [_, c]> -> !mesh.tensor<4x2xf32 on 1x2 split [_, c]>
    %2 = mesh.allreduce sum %1 dims [1] algorithm chain : !mesh.tensor<4x2xf32 on 1x2 split [_, c]> -> !mesh.tensor<4x1xf32 on 1x2 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<4x1xf32 on 1x2 split [_, _]> -> tensor<4x1xf32>
    %4 = mesh.gather %1 : !mesh.tensor<4x2xf32 on 1x2 split [_, c]> -> tensor<4x2xf32>
    func.return %3, %4 : tensor<4x1xf32>, tensor<4x2xf32>
  }

// Two chains meeting in the middle of 5 columns, the total multicast back from there.
// CHECK-LABEL: func.func @two_chains
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 5>} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 1, 5>, layout = #pe.layout<2x5xf32 on 1x5 split [r, c]>} : tensor<2x5xf32>, !pe.buf<2xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 3, 1, 2>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 2, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [west, east] {color = 1 : i64, pes = array<i64: 0, 2, 1, 1>}
// CHECK-NEXT:    pe.route west -> [east, ramp] {color = 1 : i64, pes = array<i64: 0, 3, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 1 : i64, pes = array<i64: 0, 4, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route east -> [west, ramp] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 0, 1, 1>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 0, 2, 1, 1>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 4, 1, 1>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 0, 3, 1, 1>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 0, 2, 1, 1>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 0, 0, 1, 2>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 0, 3, 1, 2>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    %1 = pe.host_out %0 {layout = #pe.layout<2x1xf32 on 1x5 split [r, _]>, pes = array<i64: 0, 0, 1, 5>} : !pe.buf<2xf32> -> tensor<2x1xf32>
  func.func @two_chains(%a: tensor<2x5xf32>) -> tensor<2x1xf32> {
    %0 = mesh.scatter %a : tensor<2x5xf32> -> !mesh.tensor<2x5xf32 on 1x5 split [r, c]>
    %2 = mesh.allreduce sum %0 dims [1] algorithm two_chains : !mesh.tensor<2x5xf32 on 1x5 split [r, c]> -> !mesh.tensor<2x1xf32 on 1x5 split [r, _]>
    %3 = mesh.gather %2 : !mesh.tensor<2x1xf32 on 1x5 split [r, _]> -> tensor<2x1xf32>
    func.return %3 : tensor<2x1xf32>
  }

// A two-level tree over 9 rows (groups of 3 chain toward the middle, then the group roots 2 and 6
// send to 4 over pass-through routes), then one multicast from PE (4, 0).
// CHECK-LABEL: func.func @tree
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 9, 1>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 9, 1>, layout = #pe.layout<9x1xf32 on 9x1 split [r, c]>} : tensor<9x1xf32>, !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 3, 0, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 2, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 5, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 7, 0, 2, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 6, 0, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 2 : i64, pes = array<i64: 2, 0, 1, 1>}
// CHECK-NEXT:    pe.route north -> [south] {color = 2 : i64, pes = array<i64: 3, 0, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 2 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 3 : i64, pes = array<i64: 6, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 3 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [north] {color = 3 : i64, pes = array<i64: 5, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north, south] {color = 3 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route north -> [south, ramp] {color = 3 : i64, pes = array<i64: 5, 0, 3, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 3 : i64, pes = array<i64: 8, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 3 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [north, ramp] {color = 3 : i64, pes = array<i64: 1, 0, 3, 1>}
// CHECK-NEXT:    pe.loop %1 = 0 to 2 {
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 0, 1, 1>, color = 0 : i64, pes_step = array<i64: 3, 0, 0, 0>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 1, 0, 1, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 4, 0, 1, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 2, 0, 1, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.loop %2 = 0 to 2 {
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 5, 0, 1, 1>, color = 1 : i64, pes_step = array<i64: 3, 0, 0, 0>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 7, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 4, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 6, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 2, 0, 1, 1>, color = 2 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 4, 0, 1, 1>, color = 2 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 6, 0, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 4, 0, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 0, 0, 4, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 5, 0, 4, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    %3 = pe.host_out %0 {layout = #pe.layout<1x1xf32 on 9x1 split [_, c]>, pes = array<i64: 0, 0, 9, 1>} : !pe.buf<1xf32> -> tensor<1x1xf32>
  func.func @tree(%a: tensor<9x1xf32>) -> tensor<1x1xf32> {
    %0 = mesh.scatter %a : tensor<9x1xf32> -> !mesh.tensor<9x1xf32 on 9x1 split [r, c]>
    %2 = mesh.allreduce sum %0 dims [0] algorithm tree : !mesh.tensor<9x1xf32 on 9x1 split [r, c]> -> !mesh.tensor<1x1xf32 on 9x1 split [_, c]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xf32 on 9x1 split [_, c]> -> tensor<1x1xf32>
    func.return %3 : tensor<1x1xf32>
  }

// Reduce to PE (0, 0) over both axes with two chains: each row meets in its middle column, the
// total moves to column 0, then column 0 does the same; no broadcast back.
// CHECK-LABEL: func.func @reduce_to_root
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 3, 3>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 3, 3>, layout = #pe.layout<3x3xf32 on 3x3 split [r, c]>} : tensor<3x3xf32>, !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 0, 3, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 0, 1, 3, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 2, 3, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 0, 1, 3, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 2 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 2 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 1, 3, 1>, color = 2 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 0, 0, 3, 1>, color = 2 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [south] {color = 3 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 3 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 4 : i64, pes = array<i64: 2, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 4 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 0, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 1, 0, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 2, 0, 1, 1>, color = 4 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 1, 0, 1, 1>, color = 4 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 5 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 5 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 1, 0, 1, 1>, color = 5 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 0, 0, 1, 1>, color = 5 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    %1 = pe.host_out %0 {layout = #pe.layout<1x1xf32 on 1x1 split [_, _]>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32> -> tensor<1x1xf32>
  func.func @reduce_to_root(%a: tensor<3x3xf32>) -> tensor<1x1xf32> {
    %0 = mesh.scatter %a : tensor<3x3xf32> -> !mesh.tensor<3x3xf32 on 3x3 split [r, c]>
    %2 = mesh.reduce sum %0 dims [0, 1] algorithm two_chains : !mesh.tensor<3x3xf32 on 3x3 split [r, c]> -> !mesh.tensor<1x1xf32 on 1x1 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xf32 on 1x1 split [_, _]> -> tensor<1x1xf32>
    func.return %3 : tensor<1x1xf32>
  }

// Both axes allreduced: one stream from the root multicasts to the whole grid.
// CHECK-LABEL: func.func @grid_multicast
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 3, 3>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 3, 3>, layout = #pe.layout<3x3xf32 on 3x3 split [r, c]>} : tensor<3x3xf32>, !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 0, 3, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine max {pes = array<i64: 0, 1, 3, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 2, 3, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine max {pes = array<i64: 0, 1, 3, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [south] {color = 2 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 2 : i64, pes = array<i64: 1, 1, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 3 : i64, pes = array<i64: 2, 1, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 3 : i64, pes = array<i64: 1, 1, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [west, east, north, south] {color = 3 : i64, pes = array<i64: 1, 1, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp, north, south] {color = 3 : i64, pes = array<i64: 1, 2, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp, north, south] {color = 3 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 3 : i64, pes = array<i64: 0, 0, 1, 3>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 3 : i64, pes = array<i64: 2, 0, 1, 3>}
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 0, 1, 1, 1>, color = 2 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine max {pes = array<i64: 1, 1, 1, 1>, color = 2 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 2, 1, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine max forward {pes = array<i64: 1, 1, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 0, 0, 1, 3>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 2, 0, 1, 3>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 1, 0, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 {pes = array<i64: 1, 2, 1, 1>, color = 3 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    %1 = pe.host_out %0 {layout = #pe.layout<1x1xf32 on 3x3 split [_, _]>, pes = array<i64: 0, 0, 3, 3>} : !pe.buf<1xf32> -> tensor<1x1xf32>
  func.func @grid_multicast(%a: tensor<3x3xf32>) -> tensor<1x1xf32> {
    %0 = mesh.scatter %a : tensor<3x3xf32> -> !mesh.tensor<3x3xf32 on 3x3 split [r, c]>
    %2 = mesh.allreduce max %0 dims [0, 1] algorithm two_chains : !mesh.tensor<3x3xf32 on 3x3 split [r, c]> -> !mesh.tensor<1x1xf32 on 3x3 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xf32 on 3x3 split [_, _]> -> tensor<1x1xf32>
    func.return %3 : tensor<1x1xf32>
  }

// ktree on 8 rows to PE 0: the far segment's chain (7, 6, 5, 3, 0) passes rows 4, 2 and 1 through
// and visits rows 3 and 0 once their own segments (4 -> 3, and 2 -> 1 -> 0) are reduced, one
// level deeper, on another color; both levels run at once.
// CHECK-LABEL: func.func @ktree
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 8, 1>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 8, 1>, layout = #pe.layout<8x1xf32 on 8x1 split [r, c]>} : tensor<8x1xf32>, !pe.buf<1xf32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 0 : i64, pes = array<i64: 1, 0, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 0 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 0 : i64, pes = array<i64: 3, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 3, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 5, 0, 3, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [north] {color = 1 : i64, pes = array<i64: 1, 0, 2, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 3, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [north] {color = 1 : i64, pes = array<i64: 4, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 5, 0, 2, 1>}
// CHECK-NEXT:    pe.loop %1 = 0 to 2 {
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 4, 0, 1, 1>, color = 0 : i64, pes_step = array<i64: -2, 0, 0, 0>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 1, 0, 1, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 3, 0, 1, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 0, 0, 1, 1>, color = 0 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.send %0 {pes = array<i64: 7, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 6, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 5, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum forward {pes = array<i64: 3, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.recv %0 combine sum {pes = array<i64: 0, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xf32>
// CHECK-NEXT:    %2 = pe.host_out %0 {layout = #pe.layout<1x1xf32 on 1x1 split [_, c]>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32> -> tensor<1x1xf32>
  func.func @ktree(%a: tensor<8x1xf32>) -> tensor<1x1xf32> {
    %0 = mesh.scatter %a : tensor<8x1xf32> -> !mesh.tensor<8x1xf32 on 8x1 split [r, c]>
    %2 = mesh.reduce sum %0 dims [0] algorithm ktree : !mesh.tensor<8x1xf32 on 8x1 split [r, c]> -> !mesh.tensor<1x1xf32 on 1x1 split [_, c]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xf32 on 1x1 split [_, c]> -> tensor<1x1xf32>
    func.return %3 : tensor<1x1xf32>
  }
}
