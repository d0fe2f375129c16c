// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// local_matmul: a zeroed partial and one pe.matmul_acc of every PE's blocks (m = 16 rows of A's
// block, k = 12 of its columns, n = 1), no communication; the allreduce that follows sums the
// partials along each PE row (pe_lowering/collectives.py: here a chain west to PE column 0,
// then a multicast back).

// CHECK-LABEL: func.func @main
// CHECK:         %[[A:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<192xf32>
// CHECK:         %[[X:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<12xf32>
// CHECK:         %[[P:.*]] = pe.alloc {name = "gemv", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.fill %[[P]] {pes = array<i64: 0, 0, 4, 4>, value = 0.000000e+00 : f64} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.matmul_acc %[[P]], %[[A]], %[[X]] {pes = array<i64: 0, 0, 4, 4>, m = 16 : i64, k = 12 : i64, n = 1 : i64} : !pe.buf<16xf32>, !pe.buf<192xf32>, !pe.buf<12xf32>
// CHECK-NOT:     pe.send %[[A]]
// CHECK:         pe.send %[[P]] {pes = array<i64: 0, 3, 4, 1>, color = 0 : i64} : !pe.buf<16xf32>
// CHECK:         pe.recv %[[P]] combine sum forward
// CHECK:         pe.recv %[[P]] combine sum {pes = array<i64: 0, 0, 4, 1>, color = 0 : i64} : !pe.buf<16xf32>
// CHECK:         pe.send %[[P]] {pes = array<i64: 0, 0, 4, 1>, color = 1 : i64} : !pe.buf<16xf32>
// CHECK:         pe.host_out %[[P]] {layout = #pe.layout<64x1xf32 on 4x4 split [r, _]>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<64x48xf32>, %x: tensor<48x1xf32>) -> tensor<64x1xf32> {
    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
    %1 = mesh.scatter %x : tensor<48x1xf32> -> !mesh.tensor<48x1xf32 on 4x4 split [c, _]>
    %2 = mesh.local_matmul %0, %1 : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>
    %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]> -> !mesh.tensor<1x64x1xf32 on 4x4 split [_, r, _]>
    %4 = mesh.reshape %3 : !mesh.tensor<1x64x1xf32 on 4x4 split [_, r, _]> -> !mesh.tensor<64x1xf32 on 4x4 split [r, _]>
    %5 = mesh.gather %4 : !mesh.tensor<64x1xf32 on 4x4 split [r, _]> -> tensor<64x1xf32>
    func.return %5 : tensor<64x1xf32>
  }
}
