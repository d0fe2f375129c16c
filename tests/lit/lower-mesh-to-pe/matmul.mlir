// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// SUMMA on a GxG grid: a zeroed accumulator, two receive buffers, one row-broadcast and one
// column-broadcast channel (routes emitted once, before the first send), then per step k:
// PE column k sends its A block along the rows, PE row k its B block along the columns (both
// asynchronously: a root receives its own block), every PE receives both and accumulates their
// product, then the roots wait for their sends.

// CHECK-LABEL: func.func @summa
// CHECK:         %[[A:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK:         %[[B:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
// CHECK:         %[[C:.*]] = pe.alloc {name = "matmul@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
// CHECK-NEXT:    pe.fill %[[C]] {pes = array<i64: 0, 0, 2, 2>, value = 0.000000e+00 : f64} : !pe.buf<8xf32>
// CHECK-NEXT:    %[[WA:.*]] = pe.alloc {name = "summa_a@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    %[[WB:.*]] = pe.alloc {name = "summa_b@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
// Channel 0: any PE of a row multicasts to its whole row.
// CHECK-NEXT:    pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// Channel 1: any PE of a column multicasts to its whole column.
// CHECK-NEXT:    pe.route ramp -> [south, ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [north, ramp] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 2>}
// Step 0.
// CHECK-NEXT:    %[[TA0:.*]] = pe.send %[[A]] {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %[[TB0:.*]] = pe.send %[[B]] {pes = array<i64: 0, 0, 1, 2>, color = 1 : i64} : !pe.buf<6xf32> -> !pe.token
// CHECK-NEXT:    pe.recv %[[WA]] {pes = array<i64: 0, 0, 2, 2>, color = 0 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.recv %[[WB]] {pes = array<i64: 0, 0, 2, 2>, color = 1 : i64} : !pe.buf<6xf32>
// CHECK-NEXT:    pe.matmul_acc %[[C]], %[[WA]], %[[WB]] {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 3 : i64, n = 2 : i64} : !pe.buf<8xf32>, !pe.buf<12xf32>, !pe.buf<6xf32>
// CHECK-NEXT:    pe.wait %[[TA0]] {pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.wait %[[TB0]] {pes = array<i64: 0, 0, 1, 2>}
// Step 1.
// CHECK-NEXT:    %[[TA1:.*]] = pe.send %[[A]] {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %[[TB1:.*]] = pe.send %[[B]] {pes = array<i64: 1, 0, 1, 2>, color = 1 : i64} : !pe.buf<6xf32> -> !pe.token
// CHECK-NEXT:    pe.recv %[[WA]] {pes = array<i64: 0, 0, 2, 2>, color = 0 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.recv %[[WB]] {pes = array<i64: 0, 0, 2, 2>, color = 1 : i64} : !pe.buf<6xf32>
// CHECK-NEXT:    pe.matmul_acc %[[C]], %[[WA]], %[[WB]] {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 3 : i64, n = 2 : i64} : !pe.buf<8xf32>, !pe.buf<12xf32>, !pe.buf<6xf32>
// CHECK-NEXT:    pe.wait %[[TA1]] {pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.wait %[[TB1]] {pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.host_out %[[C]]
// CHECK-NOT:     pe.route
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @summa(%a: tensor<8x6xf32>, %b: tensor<6x4xf32>) -> tensor<8x4xf32> {
    %0 = mesh.scatter %a : tensor<8x6xf32> -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
    %1 = mesh.scatter %b : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]> loc("net.py":9:0)
    %3 = mesh.gather %2 : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> tensor<8x4xf32>
    func.return %3 : tensor<8x4xf32>
  }

// On 3x3 the middle PEs of a line forward in both directions; there are three steps.
// CHECK-LABEL: func.func @summa3
// CHECK:         pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [west, east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.route west -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.route east -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK:         pe.route ramp -> [north, south, ramp] {color = 1 : i64, pes = array<i64: 1, 0, 1, 3>}
// CHECK-COUNT-3: pe.matmul_acc {{.*}} {pes = array<i64: 0, 0, 3, 3>, m = 2 : i64, k = 2 : i64, n = 2 : i64}
// CHECK-NOT:     pe.matmul_acc
  func.func @summa3(%a: tensor<6x6xf32>, %b: tensor<6x6xf32>) -> tensor<6x6xf32> {
    %0 = mesh.scatter %a : tensor<6x6xf32> -> !mesh.tensor<6x6xf32 on 3x3 split [r, c]>
    %1 = mesh.scatter %b : tensor<6x6xf32> -> !mesh.tensor<6x6xf32 on 3x3 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<6x6xf32 on 3x3 split [r, c]>, !mesh.tensor<6x6xf32 on 3x3 split [r, c]>) -> !mesh.tensor<6x6xf32 on 3x3 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<6x6xf32 on 3x3 split [r, c]> -> tensor<6x6xf32>
    func.return %3 : tensor<6x6xf32>
  }

// On one PE: no channels, no receive buffers, one matmul_acc on the operands themselves.
// CHECK-LABEL: func.func @one_pe
// CHECK:         %[[A1:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<48xf32>
// CHECK:         %[[B1:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<24xf32>
// CHECK:         %[[C1:.*]] = pe.alloc {name = "matmul", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<32xf32>
// CHECK-NEXT:    pe.fill %[[C1]] {pes = array<i64: 0, 0, 1, 1>, value = 0.000000e+00 : f64} : !pe.buf<32xf32>
// CHECK-NEXT:    pe.matmul_acc %[[C1]], %[[A1]], %[[B1]] {pes = array<i64: 0, 0, 1, 1>, m = 8 : i64, k = 6 : i64, n = 4 : i64} : !pe.buf<32xf32>, !pe.buf<48xf32>, !pe.buf<24xf32>
// CHECK-NEXT:    pe.host_out %[[C1]]
// CHECK-NOT:     pe.route
// CHECK-NOT:     pe.send
  func.func @one_pe(%a: tensor<8x6xf32>, %b: tensor<6x4xf32>) -> tensor<8x4xf32> {
    %0 = mesh.scatter %a : tensor<8x6xf32> -> !mesh.tensor<8x6xf32 on 1x1 split [r, c]>
    %1 = mesh.scatter %b : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 1x1 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<8x6xf32 on 1x1 split [r, c]>, !mesh.tensor<6x4xf32 on 1x1 split [r, c]>) -> !mesh.tensor<8x4xf32 on 1x1 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<8x4xf32 on 1x1 split [r, c]> -> tensor<8x4xf32>
    func.return %3 : tensor<8x4xf32>
  }
}
