// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// Batched SUMMA: the same steps as the 2-D one (double-buffered here), on tiles holding every batch entry; the
// receive buffers hold a whole batch of blocks, and pe.matmul_acc gets `lhs_batch` /
// `rhs_batch` (left out for an operand without batch dims, which is shared).

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @shared_rhs
// CHECK:         %[[C:.*]] = pe.alloc {name = "matmul", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<24xf32>
// CHECK-NEXT:    pe.fill %[[C]]
// CHECK-NEXT:    %[[WA0:.*]] = pe.alloc {name = "summa_a0", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<24xf32>
// CHECK-NEXT:    %[[WB0:.*]] = pe.alloc {name = "summa_b0", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
// CHECK-NEXT:    %[[WA1:.*]] = pe.alloc {name = "summa_a1", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<24xf32>
// CHECK-NEXT:    %[[WB1:.*]] = pe.alloc {name = "summa_b1", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
// CHECK:         pe.matmul_acc %[[C]], %[[WA0]], %[[WB0]] {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 3 : i64, n = 3 : i64, lhs_batch = 2 : i64} : !pe.buf<24xf32>, !pe.buf<24xf32>, !pe.buf<9xf32>
// CHECK:         pe.matmul_acc %[[C]], %[[WA1]], %[[WB1]] {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 3 : i64, n = 3 : i64, lhs_batch = 2 : i64} : !pe.buf<24xf32>, !pe.buf<24xf32>, !pe.buf<9xf32>
// CHECK-NOT:     pe.matmul_acc
  func.func @shared_rhs(%a: tensor<2x7x5xf32>, %w: tensor<5x6xf32>) -> tensor<2x7x6xf32> {
    %0 = mesh.scatter %a : tensor<2x7x5xf32> -> !mesh.tensor<2x7x5xf32 on 2x2 split [_, r, c]>
    %1 = mesh.scatter %w : tensor<5x6xf32> -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
    %2 = mesh.mask_pad %0 value 0.000000e+00 : !mesh.tensor<2x7x5xf32 on 2x2 split [_, r, c]>
    %3 = mesh.mask_pad %1 value 0.000000e+00 : !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
    %4 = mesh.matmul summa %2, %3 : (!mesh.tensor<2x7x5xf32 on 2x2 split [_, r, c]>, !mesh.tensor<5x6xf32 on 2x2 split [r, c]>) -> !mesh.tensor<2x7x6xf32 on 2x2 split [_, r, c]>
    %5 = mesh.gather %4 : !mesh.tensor<2x7x6xf32 on 2x2 split [_, r, c]> -> tensor<2x7x6xf32>
    func.return %5 : tensor<2x7x6xf32>
  }

// Two batch dims (2 x 3 = 6 blocks per PE) on each side; one PE: a single pe.matmul_acc.
// CHECK-LABEL: func.func @one_pe
// CHECK:         pe.matmul_acc %{{.*}}, %{{.*}}, %{{.*}} {pes = array<i64: 0, 0, 1, 1>, m = 4 : i64, k = 5 : i64, n = 2 : i64, lhs_batch = 6 : i64, rhs_batch = 6 : i64} : !pe.buf<48xf32>, !pe.buf<120xf32>, !pe.buf<60xf32>
// CHECK-NOT:     pe.send
  func.func @one_pe(%a: tensor<2x3x4x5xf32>, %b: tensor<2x3x5x2xf32>) -> tensor<2x3x4x2xf32> {
    %0 = mesh.scatter %a : tensor<2x3x4x5xf32> -> !mesh.tensor<2x3x4x5xf32 on 1x1 split [_, _, r, c]>
    %1 = mesh.scatter %b : tensor<2x3x5x2xf32> -> !mesh.tensor<2x3x5x2xf32 on 1x1 split [_, _, r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<2x3x4x5xf32 on 1x1 split [_, _, r, c]>, !mesh.tensor<2x3x5x2xf32 on 1x1 split [_, _, r, c]>) -> !mesh.tensor<2x3x4x2xf32 on 1x1 split [_, _, r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<2x3x4x2xf32 on 1x1 split [_, _, r, c]> -> tensor<2x3x4x2xf32>
    func.return %3 : tensor<2x3x4x2xf32>
  }
}
