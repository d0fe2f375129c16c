// RUN: pyflame-opt %s -p assign-layouts | filecheck %s
// RUN: pyflame-opt %s -p assign-layouts,flame-to-mesh | filecheck %s --check-prefix=MESH
// RUN: pyflame-opt %s -p assign-layouts | pyflame-opt -p flame-to-mesh | filecheck %s --check-prefix=MESH

// A linear layer and its weight gradient: the matmuls share one grid, the weight is loaded
// transposed (W^T feeds SUMMA as [r, c]), the bias broadcast and the relu follow the product,
// the row sums keep the rows' split. W is used as W^T and (for dx) as W: it is loaded once per
// layout (pf.reload), not moved on the fabric. Printed and parsed back, the same program.

builtin.module attributes {pf.target = #pf.target<"small">} {
// CHECK-LABEL: func.func @linear
// CHECK-SAME:    %x: tensor<48x40xf32> {pf.dist = "16x16 split [r, c]", pf.why = "matmul"}
// CHECK-SAME:    %w: tensor<24x40xf32> {pf.dist = "16x16 split [c, r]", pf.why = "propagated", pf.reload}
// CHECK-SAME:    %b: tensor<24xf32> {pf.dist = "16x16 split [c]", pf.why = "propagated"}
// CHECK:         flame.transpose %w {{.*}}pf.dist = "16x16 split [r, c]", pf.why = "matmul"
// CHECK:         flame.matmul {{.*}}pf.dist = "16x16 split [r, c]", pf.why = "matmul"
// CHECK:         flame.broadcast_to %b {{.*}}pf.dist = "16x16 split [r, c]", pf.why = "propagated"
// CHECK:         flame.relu {{.*}}pf.dist = "16x16 split [r, c]", pf.why = "propagated"
// CHECK:         flame.reduce_sum {{.*}}pf.dist = "16x16 split [r]", pf.why = "propagated"
// MESH-LABEL: func.func @linear
// MESH:         mesh.scatter %w : tensor<24x40xf32> -> !mesh.tensor<24x40xf32 on 16x16 split [c, r]>
// MESH:         mesh.matmul {{summa(25d)?}} {{.*}} -> !mesh.tensor<48x24xf32 on 16x16 split [r, c]>
// MESH:         mesh.scatter %w : tensor<24x40xf32> -> !mesh.tensor<24x40xf32 on 16x16 split [r, c]>
// MESH:         mesh.matmul {{summa(25d)?}} {{.*}} -> !mesh.tensor<48x40xf32 on 16x16 split [r, c]>
// MESH-NOT:     mesh.redistribute
// MESH-NOT:     mesh.relayout
  func.func @linear(%x: tensor<48x40xf32>, %w: tensor<24x40xf32>, %b: tensor<24xf32>) -> (tensor<48xf32>, tensor<48x40xf32>) {
    %wt = flame.transpose %w {perm = array<i64: 1, 0>} : tensor<24x40xf32> -> tensor<40x24xf32>
    %y = flame.matmul %x, %wt : (tensor<48x40xf32>, tensor<40x24xf32>) -> tensor<48x24xf32>
    %bb = flame.broadcast_to %b : tensor<24xf32> -> tensor<48x24xf32>
    %z = flame.add %y, %bb : (tensor<48x24xf32>, tensor<48x24xf32>) -> tensor<48x24xf32>
    %h = flame.relu %z : tensor<48x24xf32> -> tensor<48x24xf32>
    %s = flame.reduce_sum %h {dims = array<i64: 1>} : tensor<48x24xf32> -> tensor<48xf32>
    %wtt = flame.transpose %wt {perm = array<i64: 1, 0>} : tensor<40x24xf32> -> tensor<24x40xf32>
    %dx = flame.matmul %h, %wtt : (tensor<48x24xf32>, tensor<24x40xf32>) -> tensor<48x40xf32>
    func.return %s, %dx : tensor<48xf32>, tensor<48x40xf32>
  }
}
