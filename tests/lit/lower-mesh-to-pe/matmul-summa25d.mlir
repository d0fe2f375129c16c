// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// 2.5D SUMMA on 4x4 PEs with 2 layers (passes/pe_lowering/layered_matmul.py): the panel
// (the A blocks of rows r and r+1, [2*2, 2]) gets A's own block in slot 0, then one ring
// shift up the columns brings the block of row r+1 into slot 1; the rows of layer 1 (rows 1
// and 3: a pe.loop over the row groups, two rows per trip) rotate their panel one PE west.
// Steps (2 of them): PE column 2q multicasts the panel along every row; PE row 2q+l sends its
// B block down its column on layer l's channel, which delivers to layer l's rows only; each
// layer receives its next B block and multiplies [4, 2] x [2, 2] in its own loop. Then the
// tall accumulator is cut into its two blocks and one ring step down the columns adds block
// 1 of row r into block 0 of row r+1.

// CHECK-LABEL: func.func @summa25d
// CHECK:         %[[A:.*]] = pe.alloc {name = "input"
// CHECK:         %[[C:.*]] = pe.alloc {name = "matmul"
// CHECK:         %[[P:.*]] = pe.alloc {name = "summa25d_panel"
// CHECK-NEXT:    pe.unpack %[[P]], %[[A]] along r {pes = array<i64: 0, 0, 4, 4>, shape = array<i64: 2, 2, 2>, dim = 0 : i64, count = 1 : i64, at = array<i64: 0, 0>}
// CHECK:         pe.send %[[A]] {pes = array<i64: 0, 0, 4, 4>, color = [[UP:[0-9]+]] : i64}
// CHECK:         pe.unpack %[[P]], %{{.*}} along r {{.*}} at = array<i64: 1, 0>}
// Layer 1's rotation: rows 1 and 3, a loop over the two row groups.
// CHECK:         pe.loop
// CHECK-NEXT:      pe.send %[[P]] {pes = array<i64: 1, 0, 1, 4>, color = {{.*}}, pes_step = array<i64: 2, 0, 0, 0>}
// Layer 0's B channel delivers to rows 0 and 2 only: row 1 passes the stream on.
// CHECK:         pe.route north -> [south] {color = [[B0:[0-9]+]] : i64, pes = array<i64: 1, 0, 1, 4>}
// The steps: a layer's receive and multiply in a loop over its rows.
// CHECK:         pe.loop
// CHECK:           pe.matmul_acc %{{.*}} {pes = array<i64: 0, 0, 1, 4>, m = 4 : i64, k = 2 : i64, n = 2 : i64, pes_step = array<i64: 2, 0, 0, 0>}
// The reduction: block 1 of the accumulator goes down one PE and is added into the result.
// CHECK:         pe.pack %[[C]], %{{.*}} {{.*}} start = 0 : i64
// CHECK:         pe.recv %[[C]] combine sum

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @summa25d(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %0 = mesh.scatter %a : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]>
    %1 = mesh.scatter %b : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]>
    %2 = mesh.matmul summa25d %0, %1 : (!mesh.tensor<8x8xf32 on 4x4 split [r, c]>, !mesh.tensor<8x8xf32 on 4x4 split [r, c]>) -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<8x8xf32 on 4x4 split [r, c]> -> tensor<8x8xf32>
    func.return %3 : tensor<8x8xf32>
  }
}
