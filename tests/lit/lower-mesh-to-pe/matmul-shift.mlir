// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// MeshGEMM on 4x4 PEs (passes/pe_lowering/shift_matmul.py): two buffers per operand (the
// operand's own, being dead afterwards, and shift_a1 / shift_b1); the alignment channels
// (0: A along the rows, 1: B along the columns) route the folded ring 0, 2, 3, 1 forward in
// the even lines and backward in the odd ones (line 0 does not move and has no routes); round
// 0 rotates lines 1..3 and copies line 0 into the other buffer, round 1 rotates line 3 only.
// Then the steps' channels (2, 3: the folded ring forward on every line, fixed routes), and
// g steps: post the sends to the ring predecessor and the receives into the other buffers,
// multiply, wait; steps 1 and 2 are a pe.loop (one trip of two steps), step 3 only multiplies.

// CHECK-LABEL: func.func @meshgemm
// CHECK:         %[[A:.*]] = pe.alloc {name = "input"
// CHECK:         %[[B:.*]] = pe.alloc {name = "input"
// CHECK:         %[[C:.*]] = pe.alloc {name = "matmul"
// CHECK:         %[[A1:.*]] = pe.alloc {name = "shift_a1"
// CHECK-NEXT:    %[[B1:.*]] = pe.alloc {name = "shift_b1"
// Row 2 (even, forward): PE 0 and 1 send east, 2 and 3 west; PE 1 passes the stream from 2 on.
// CHECK:         pe.route east -> [west] {color = 0 : i64, pes = array<i64: 2, 1, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 2, 0, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 2, 2, 1, 2>}
// Rows 1 and 3 (odd, backward): one route per rule in a loop over the two rows.
// CHECK:           pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 1, 2>, pes_step = array<i64: 2, 0, 0, 0>}
// Alignment round 0: rows 1..3 rotate A, row 0 copies; columns 1..3 rotate B.
// CHECK:         %[[S0:.*]] = pe.send %[[A]] {pes = array<i64: 1, 0, 3, 4>, color = 0 : i64}
// CHECK-NEXT:    %[[R0:.*]] = pe.recv %[[A1]] {pes = array<i64: 1, 0, 3, 4>, color = 0 : i64}
// CHECK-NEXT:    pe.copy %[[A1]], %[[A]] {pes = array<i64: 0, 0, 1, 4>}
// CHECK-NEXT:    %{{.*}} = pe.send %[[B]] {pes = array<i64: 0, 1, 4, 3>, color = 1 : i64}
// CHECK-NEXT:    %{{.*}} = pe.recv %[[B1]] {pes = array<i64: 0, 1, 4, 3>, color = 1 : i64}
// CHECK-NEXT:    pe.copy %[[B1]], %[[B]] {pes = array<i64: 0, 0, 4, 1>}
// CHECK-NEXT:    pe.wait %[[S0]], %[[R0]] {pes = array<i64: 1, 0, 3, 4>}
// Round 1: row 3 rotates back into the first buffer, rows 0..2 copy.
// CHECK:         pe.send %[[A1]] {pes = array<i64: 3, 0, 1, 4>, color = 0 : i64}
// CHECK-NEXT:    pe.recv %[[A]] {pes = array<i64: 3, 0, 1, 4>, color = 0 : i64}
// CHECK-NEXT:    pe.copy %[[A]], %[[A1]] {pes = array<i64: 0, 0, 3, 4>}
// The steps' ring for A: the same rules on every row (rectangles and column loops).
// CHECK:         pe.route ramp -> [east] {color = 2 : i64, pes = array<i64: 0, 0, 4, 2>}
// CHECK-NEXT:    pe.route ramp -> [west] {color = 2 : i64, pes = array<i64: 0, 2, 4, 2>}
// Step 0 (buffers A, B after two rounds):
// CHECK:         %[[T0:.*]] = pe.send %[[A]] {pes = array<i64: 0, 0, 4, 4>, color = 2 : i64}
// CHECK-NEXT:    %[[T1:.*]] = pe.recv %[[A1]] {pes = array<i64: 0, 0, 4, 4>, color = 2 : i64}
// CHECK-NEXT:    %[[T2:.*]] = pe.send %[[B]] {pes = array<i64: 0, 0, 4, 4>, color = 3 : i64}
// CHECK-NEXT:    %[[T3:.*]] = pe.recv %[[B1]] {pes = array<i64: 0, 0, 4, 4>, color = 3 : i64}
// CHECK-NEXT:    pe.matmul_acc %[[C]], %[[A]], %[[B]] {pes = array<i64: 0, 0, 4, 4>, m = 2 : i64, k = 2 : i64, n = 2 : i64}
// CHECK-NEXT:    pe.wait %[[T0]], %[[T1]], %[[T2]], %[[T3]] {pes = array<i64: 0, 0, 4, 4>}
// Steps 1 and 2: one loop trip; step 3 multiplies what arrived last.
// CHECK-NEXT:    pe.loop %{{.*}} = 0 to 1 {
// CHECK:           pe.matmul_acc %[[C]], %[[A1]], %[[B1]]
// CHECK:           pe.matmul_acc %[[C]], %[[A]], %[[B]]
// CHECK:           pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.matmul_acc %[[C]], %[[A1]], %[[B1]]

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @meshgemm(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %0 = mesh.scatter %a : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]>
    %1 = mesh.scatter %b : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]>
    %2 = mesh.matmul meshgemm %0, %1 : (!mesh.tensor<8x8xf32 on 4x4 split [r, c]>, !mesh.tensor<8x8xf32 on 4x4 split [r, c]>) -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<8x8xf32 on 4x4 split [r, c]> -> tensor<8x8xf32>
    func.return %3 : tensor<8x8xf32>
  }
}
