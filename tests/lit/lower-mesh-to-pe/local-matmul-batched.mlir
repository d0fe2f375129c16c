// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// A batched local_matmul (a decode step's q @ K^T: 2 x 3 heads, one query row each, batch dims
// whole on every PE) with its matrix stored transposed (K [2, 3, 37, 16], read as K^T through
// strided DSDs): one pe.matmul_acc with rhs_batch = 6 entries of m = 1, k = 4 (16 over 4 PE
// rows), n = 10 (37 over 4 PE columns), no transposed copy and no communication.

// CHECK-LABEL: func.func @main
// CHECK:         %[[Q:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<24xf32>
// CHECK:         %[[K:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<240xf32>
// CHECK:         %[[P:.*]] = pe.alloc {name = "gemv", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<60xf32>
// CHECK-NEXT:    pe.fill %[[P]]
// CHECK-NEXT:    pe.matmul_acc %[[P]], %[[Q]], %[[K]] rhs_transposed {pes = array<i64: 0, 0, 4, 4>, m = 1 : i64, k = 4 : i64, n = 10 : i64, lhs_batch = 6 : i64, rhs_batch = 6 : i64} : !pe.buf<60xf32>, !pe.buf<24xf32>, !pe.buf<240xf32>
// CHECK-NOT:     pe.transpose
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%q: tensor<2x3x1x16xf32>, %k: tensor<2x3x37x16xf32>) -> tensor<2x3x1x37xf32> {
    %0 = mesh.scatter %q : tensor<2x3x1x16xf32> -> !mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>
    %1 = mesh.scatter %k : tensor<2x3x37x16xf32> -> !mesh.tensor<2x3x37x16xf32 on 4x4 split [_, _, c, r]>
    %2 = mesh.local_matmul transpose_b %0, %1 : (!mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>, !mesh.tensor<2x3x37x16xf32 on 4x4 split [_, _, c, r]>) -> !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [r, _, _, _, c]>
    %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [r, _, _, _, c]> -> !mesh.tensor<1x2x3x1x37xf32 on 4x4 split [_, _, _, _, c]>
    %4 = mesh.reshape %3 : !mesh.tensor<1x2x3x1x37xf32 on 4x4 split [_, _, _, _, c]> -> !mesh.tensor<2x3x1x37xf32 on 4x4 split [_, _, _, c]>
    %5 = mesh.gather %4 : !mesh.tensor<2x3x1x37xf32 on 4x4 split [_, _, _, c]> -> tensor<2x3x1x37xf32>
    func.return %5 : tensor<2x3x1x37xf32>
  }
}
