// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// A local transpose (mesh.transpose perm [1, 0]) that only SUMMA reads is folded: SUMMA sends the
// transpose's input tiles as they are and pe.matmul_acc reads them turned (`rhs_transposed` /
// `lhs_transposed`), instead of a pe.transpose copying every tile first. The blocks do not move.

builtin.module attributes {pf.target = #pf.target<"small">} {

// x @ w.T with w loaded in the transposed split: no pe.transpose, the SUMMA reads w's buffer.
// CHECK-LABEL: func.func @rhs_folded
// CHECK:         %[[W:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.host_in %w, %[[W]]
// CHECK-NOT:     pe.transpose
// CHECK:         pe.send %[[W]]
// CHECK:         pe.matmul_acc %{{.*}}, %{{.*}}, %{{.*}} rhs_transposed {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 4 : i64, n = 3 : i64}
// CHECK-NOT:     pe.transpose
  func.func @rhs_folded(%x: tensor<7x8xf32>, %w: tensor<6x8xf32>) -> tensor<7x6xf32> {
    %0 = mesh.scatter %x : tensor<7x8xf32> -> !mesh.tensor<7x8xf32 on 2x2 split [r, c]>
    %1 = mesh.scatter %w : tensor<6x8xf32> -> !mesh.tensor<6x8xf32 on 2x2 split [c, r]>
    %2 = mesh.transpose %1 perm [1, 0] : !mesh.tensor<6x8xf32 on 2x2 split [c, r]> -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
    %3 = mesh.matmul summa %0, %2 : (!mesh.tensor<7x8xf32 on 2x2 split [r, c]>, !mesh.tensor<8x6xf32 on 2x2 split [r, c]>) -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>
    %4 = mesh.gather %3 : !mesh.tensor<7x6xf32 on 2x2 split [r, c]> -> tensor<7x6xf32>
    func.return %4 : tensor<7x6xf32>
  }

// The lhs alike, on top of the op's own transpose_b: each flag is the operand's.
// CHECK-LABEL: func.func @lhs_folded
// CHECK-NOT:     pe.transpose
// CHECK:         pe.matmul_acc %{{.*}}, %{{.*}}, %{{.*}} lhs_transposed rhs_transposed
  func.func @lhs_folded(%a: tensor<8x6xf32>, %b: tensor<5x8xf32>) -> tensor<6x5xf32> {
    %0 = mesh.scatter %a : tensor<8x6xf32> -> !mesh.tensor<8x6xf32 on 2x2 split [c, r]>
    %1 = mesh.transpose %0 perm [1, 0] : !mesh.tensor<8x6xf32 on 2x2 split [c, r]> -> !mesh.tensor<6x8xf32 on 2x2 split [r, c]>
    %2 = mesh.scatter %b : tensor<5x8xf32> -> !mesh.tensor<5x8xf32 on 2x2 split [r, c]>
    %3 = mesh.matmul summa transpose_b %1, %2 : (!mesh.tensor<6x8xf32 on 2x2 split [r, c]>, !mesh.tensor<5x8xf32 on 2x2 split [r, c]>) -> !mesh.tensor<6x5xf32 on 2x2 split [r, c]>
    %4 = mesh.gather %3 : !mesh.tensor<6x5xf32 on 2x2 split [r, c]> -> tensor<6x5xf32>
    func.return %4 : tensor<6x5xf32>
  }

// A transpose something else reads too stays: it is computed once, for both.
// CHECK-LABEL: func.func @kept
// CHECK:         pe.transpose
// CHECK:         pe.matmul_acc %{{.*}}, %{{.*}}, %{{.*}} {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 4 : i64, n = 3 : i64}
  func.func @kept(%x: tensor<7x8xf32>, %w: tensor<6x8xf32>) -> (tensor<7x6xf32>, tensor<8x6xf32>) {
    %0 = mesh.scatter %x : tensor<7x8xf32> -> !mesh.tensor<7x8xf32 on 2x2 split [r, c]>
    %1 = mesh.scatter %w : tensor<6x8xf32> -> !mesh.tensor<6x8xf32 on 2x2 split [c, r]>
    %2 = mesh.transpose %1 perm [1, 0] : !mesh.tensor<6x8xf32 on 2x2 split [c, r]> -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
    %3 = mesh.matmul summa %0, %2 : (!mesh.tensor<7x8xf32 on 2x2 split [r, c]>, !mesh.tensor<8x6xf32 on 2x2 split [r, c]>) -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>
    %4 = mesh.gather %3 : !mesh.tensor<7x6xf32 on 2x2 split [r, c]> -> tensor<7x6xf32>
    %5 = mesh.gather %2 : !mesh.tensor<8x6xf32 on 2x2 split [r, c]> -> tensor<8x6xf32>
    func.return %4, %5 : tensor<7x6xf32>, tensor<8x6xf32>
  }
}
