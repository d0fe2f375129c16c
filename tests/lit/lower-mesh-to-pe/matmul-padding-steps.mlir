// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// SUMMA runs only the K blocks that hold data (`mesh.MatmulOp.k_blocks` = ceil(K / k)): K = 3
// on 4x4 PEs is blocks of 1, and block 3 is contraction padding in both operands, so the
// steps are 3, not 4: PE columns (A) and rows (B) 0, 1 and 2 are the roots, PE column and row
// 3 never send, and three products accumulate.

// CHECK-LABEL: func.func @padding_steps
// CHECK:         pe.fill
// CHECK:         pe.send %{{.*}} {pes = array<i64: 0, 0, 4, 1>, color = [[A0:[0-9]+]] : i64}
// CHECK-NEXT:    pe.send %{{.*}} {pes = array<i64: 0, 0, 1, 4>
// CHECK:         pe.send %{{.*}} {pes = array<i64: 0, 1, 4, 1>
// CHECK-NEXT:    pe.send %{{.*}} {pes = array<i64: 1, 0, 1, 4>
// CHECK:         pe.matmul_acc {{.*}} m = 2 : i64, k = 1 : i64, n = 2 : i64
// CHECK:         pe.send %{{.*}} {pes = array<i64: 0, 2, 4, 1>, color = [[A0]] : i64}
// CHECK-NEXT:    pe.send %{{.*}} {pes = array<i64: 2, 0, 1, 4>
// CHECK:         pe.matmul_acc
// CHECK:         pe.matmul_acc
// CHECK-NOT:     pe.matmul_acc
// CHECK-NOT:     pe.send
// CHECK:         pe.host_out
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @padding_steps(%a: tensor<8x3xf32>, %b: tensor<3x8xf32>) -> tensor<8x8xf32> {
    %0 = mesh.scatter %a : tensor<8x3xf32> -> !mesh.tensor<8x3xf32 on 4x4 split [r, c]>
    %1 = mesh.scatter %b : tensor<3x8xf32> -> !mesh.tensor<3x8xf32 on 4x4 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<8x3xf32 on 4x4 split [r, c]>, !mesh.tensor<3x8xf32 on 4x4 split [r, c]>) -> !mesh.tensor<8x8xf32 on 4x4 split [r, c]> loc("net.py":9:0)
    %3 = mesh.gather %2 : !mesh.tensor<8x8xf32 on 4x4 split [r, c]> -> tensor<8x8xf32>
    func.return %3 : tensor<8x8xf32>
  }
}
