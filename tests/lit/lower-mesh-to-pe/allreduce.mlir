// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// allreduce is a pipelined chain along each split mesh axis: PE 0 sends its partial to PE 1,
// each middle PE adds its own into the passing stream and forwards it (`pe.recv combine sum
// forward`), the last adds its own (`pe.recv combine sum`); the last PE then sends the total back
// along the line (every PE on the way keeps a copy). Two channels per axis: the chain step and
// the way back. The partial buffer is reduced in place when the allreduce is its only use.

builtin.module attributes {pf.target = #pf.target<"small">} {

// Along the columns of a 2x3 grid (dim 1 split over c).
// CHECK-LABEL: func.func @along_columns
// CHECK:         %[[P:.*]] = pe.alloc {name = "partial", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.reduce sum %[[P]], %{{.*}} {pes = array<i64: 0, 0, 2, 3>, shape = array<i64: 4, 1>, dims = array<i64: 1>}
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 2>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 2, 2, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route east -> [west, ramp] {color = 1 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.send %[[P]] {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %[[P]] combine sum forward {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %[[P]] combine sum {pes = array<i64: 0, 2, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.send %[[P]] {pes = array<i64: 0, 2, 2, 1>, color = 1 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %[[P]] {pes = array<i64: 0, 0, 2, 2>, color = 1 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_out %[[P]] {layout = #pe.layout<8x1xf32 on 2x3 split [r, _]>, pes = array<i64: 0, 0, 2, 3>}
  func.func @along_columns(%a: tensor<8x3xf32>) -> tensor<8x1xf32> {
    %0 = mesh.scatter %a : tensor<8x3xf32> -> !mesh.tensor<8x3xf32 on 2x3 split [r, c]>
    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<8x3xf32 on 2x3 split [r, c]> -> !mesh.tensor<8x3xf32 on 2x3 split [r, c]>
    %2 = mesh.allreduce sum %1 dims [1] : !mesh.tensor<8x3xf32 on 2x3 split [r, c]> -> !mesh.tensor<8x1xf32 on 2x3 split [r, _]>
    %3 = mesh.gather %2 : !mesh.tensor<8x1xf32 on 2x3 split [r, _]> -> tensor<8x1xf32>
    func.return %3 : tensor<8x1xf32>
  }

// Along the rows of a 3x2 grid (dim 0 split over r).
// CHECK-LABEL: func.func @along_rows
// CHECK:         %[[Q:.*]] = pe.alloc {name = "partial", pes = array<i64: 0, 0, 3, 2>} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.reduce sum %[[Q]]
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 2, 2>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 2, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [north, ramp] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.send %[[Q]] {pes = array<i64: 0, 0, 1, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %[[Q]] combine sum forward {pes = array<i64: 1, 0, 1, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %[[Q]] combine sum {pes = array<i64: 2, 0, 1, 2>, color = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.send %[[Q]] {pes = array<i64: 2, 0, 1, 2>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.recv %[[Q]] {pes = array<i64: 0, 0, 2, 2>, color = 1 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.host_out %[[Q]]
  func.func @along_rows(%a: tensor<6x4xf32>) -> tensor<1x4xf32> {
    %0 = mesh.scatter %a : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 3x2 split [r, c]>
    %1 = mesh.local_reduce sum %0 dims [0] : !mesh.tensor<6x4xf32 on 3x2 split [r, c]> -> !mesh.tensor<3x4xf32 on 3x2 split [r, c]>
    %2 = mesh.allreduce sum %1 dims [0] : !mesh.tensor<3x4xf32 on 3x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 3x2 split [_, c]>
    %3 = mesh.gather %2 : !mesh.tensor<1x4xf32 on 3x2 split [_, c]> -> tensor<1x4xf32>
    func.return %3 : tensor<1x4xf32>
  }

// Both axes: first along the columns (channels 0, 1), then along the rows (channels 2, 3).
// CHECK-LABEL: func.func @both_axes
// CHECK:         pe.reduce sum %[[S:[^,]*]],
// CHECK:         pe.send %[[S]] {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64}
// CHECK-NEXT:    pe.recv %[[S]] combine sum {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64}
// CHECK-NEXT:    pe.send %[[S]] {pes = array<i64: 0, 1, 2, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.recv %[[S]] {pes = array<i64: 0, 0, 2, 1>, color = 1 : i64}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 2 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 2 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [north] {color = 3 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 3 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.send %[[S]] {pes = array<i64: 0, 0, 1, 2>, color = 2 : i64}
// CHECK-NEXT:    pe.recv %[[S]] combine sum {pes = array<i64: 1, 0, 1, 2>, color = 2 : i64}
// CHECK-NEXT:    pe.send %[[S]] {pes = array<i64: 1, 0, 1, 2>, color = 3 : i64}
// CHECK-NEXT:    pe.recv %[[S]] {pes = array<i64: 0, 0, 1, 2>, color = 3 : i64}
// CHECK-NEXT:    pe.host_out %[[S]]
  func.func @both_axes(%a: tensor<4x4xf32>) -> tensor<1x1xf32> {
    %0 = mesh.scatter %a : tensor<4x4xf32> -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
    %1 = mesh.local_reduce sum %0 dims [0, 1] : !mesh.tensor<4x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x2xf32 on 2x2 split [r, c]>
    %2 = mesh.allreduce sum %1 dims [0, 1] : !mesh.tensor<2x2xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x1xf32 on 2x2 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xf32 on 2x2 split [_, _]> -> tensor<1x1xf32>
    func.return %3 : tensor<1x1xf32>
  }

// The partials are used again after the allreduce: it works on a copy.
// CHECK-LABEL: func.func @partials_kept
// CHECK:         %[[K:.*]] = pe.alloc {name = "partial", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.reduce sum %[[K]]
// CHECK-NEXT:    %[[W:.*]] = pe.alloc {name = "allreduce", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.copy %[[W]], %[[K]] {pes = array<i64: 0, 0, 1, 2>} : !pe.buf<4xf32>, !pe.buf<4xf32>
// CHECK:         pe.send %[[W]] {pes = array<i64: 0, 0, 1, 1>, color = 0 : i64}
// CHECK-NEXT:    pe.recv %[[W]] combine sum {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64}
// CHECK:         pe.host_out %[[W]]
// CHECK-NEXT:    pe.host_out %[[K]]
  func.func @partials_kept(%a: tensor<4x2xf32>) -> (tensor<4x1xf32>, tensor<4x2xf32>) {
    %0 = mesh.scatter %a : tensor<4x2xf32> -> !mesh.tensor<4x2xf32 on 1x2 split [_, c]>
    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<4x2xf32 on 1x2 split [_, c]> -> !mesh.tensor<4x2xf32 on 1x2 split [_, c]>
    %2 = mesh.allreduce sum %1 dims [1] : !mesh.tensor<4x2xf32 on 1x2 split [_, c]> -> !mesh.tensor<4x1xf32 on 1x2 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<4x1xf32 on 1x2 split [_, _]> -> tensor<4x1xf32>
    %4 = mesh.gather %1 : !mesh.tensor<4x2xf32 on 1x2 split [_, c]> -> tensor<4x2xf32>
    func.return %3, %4 : tensor<4x1xf32>, tensor<4x2xf32>
  }
}
