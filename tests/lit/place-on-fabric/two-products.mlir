// RUN: pyflame-opt %s -p assign-layouts,place-on-fabric | filecheck %s
// RUN: pyflame-opt %s -p assign-layouts,place-on-fabric,flame-to-mesh | filecheck %s --check-prefix=MESH
// RUN: pyflame-opt %s -p assign-layouts,place-on-fabric | pyflame-opt -p place-on-fabric,flame-to-mesh | filecheck %s --check-prefix=MESH

// Two independent products on a 16x32 fabric: assign-layouts puts both on the 16x16 grid at
// PE (0, 0); place-on-fabric moves the second, with the transposed input only it reads and
// the relu only it feeds, to the 16x16 rectangle at (0, 16), where it runs at the same time.
// The sum of both results stays at (0, 0): the second product's result moves back once. Both
// products take the 2.5D SUMMA where its cost rule says so, off the corner as well.
// Rerun on its own output, the pass changes nothing (the moved product is no candidate).

builtin.module attributes {pf.target = #pf.target<"small", fabric_cols = 32>} {
// CHECK-LABEL: func.func @two
// CHECK-SAME:    %c: tensor<37x29xf32> {pf.dist = "16x16 at (0, 16) split [r, c]"
// CHECK-SAME:    %d: tensor<37x29xf32> {pf.dist = "16x16 at (0, 16) split [c, r]"
// CHECK:         flame.matmul %a, %bt {pf.dist = "16x16 split [r, c]", pf.why = "matmul"}
// CHECK:         flame.transpose %d {{.*}}pf.dist = "16x16 at (0, 16) split [r, c]"
// CHECK:         flame.matmul %c, %dt {pf.dist = "16x16 at (0, 16) split [r, c]", pf.why = "matmul; at (0, 16) beside 1 independent product(s): {{[0-9,]+}} < {{[0-9,]+}} estimated cycles in turn"}
// CHECK:         flame.relu {{.*}}pf.dist = "16x16 at (0, 16) split [r, c]"
// CHECK:         flame.add {{.*}}pf.dist = "16x16 split [r, c]"
// MESH-LABEL: func.func @two
// MESH:         mesh.matmul {{summa25d|summa}} {{.*}} -> !mesh.tensor<37x37xf32 on 16x16 split [r, c]>
// MESH:         mesh.scatter %c : tensor<37x29xf32> -> !mesh.tensor<37x29xf32 on 16x16 at (0, 16) split [r, c]>
// MESH:         mesh.matmul summa25d {{.*}} -> !mesh.tensor<37x37xf32 on 16x16 at (0, 16) split [r, c]>
// MESH:         mesh.unary relu {{.*}} : !mesh.tensor<37x37xf32 on 16x16 at (0, 16) split [r, c]>
// MESH:         mesh.redistribute {{.*}} : !mesh.tensor<37x37xf32 on 16x16 at (0, 16) split [r, c]> -> !mesh.tensor<37x37xf32 on 16x16 split [r, c]>
// MESH:         mesh.binary add
  func.func @two(%a: tensor<37x29xf32>, %b: tensor<37x29xf32>, %c: tensor<37x29xf32>, %d: tensor<37x29xf32>) -> tensor<37x37xf32> {
    %bt = flame.transpose %b {perm = array<i64: 1, 0>} : tensor<37x29xf32> -> tensor<29x37xf32>
    %x = flame.matmul %a, %bt : (tensor<37x29xf32>, tensor<29x37xf32>) -> tensor<37x37xf32>
    %dt = flame.transpose %d {perm = array<i64: 1, 0>} : tensor<37x29xf32> -> tensor<29x37xf32>
    %y = flame.matmul %c, %dt : (tensor<37x29xf32>, tensor<29x37xf32>) -> tensor<37x37xf32>
    %r = flame.relu %y : tensor<37x37xf32> -> tensor<37x37xf32>
    %s = flame.add %x, %r : (tensor<37x37xf32>, tensor<37x37xf32>) -> tensor<37x37xf32>
    func.return %s : tensor<37x37xf32>
  }

// A product of a product: dependent, nothing moves.
// CHECK-LABEL: func.func @chain
// CHECK-NOT:     at (
// MESH-LABEL: func.func @chain
// MESH-NOT:     at (
  func.func @chain(%a: tensor<37x37xf32>, %b: tensor<37x37xf32>, %c: tensor<37x37xf32>) -> tensor<37x37xf32> {
    %x = flame.matmul %a, %b : (tensor<37x37xf32>, tensor<37x37xf32>) -> tensor<37x37xf32>
    %y = flame.matmul %x, %c : (tensor<37x37xf32>, tensor<37x37xf32>) -> tensor<37x37xf32>
    func.return %y : tensor<37x37xf32>
  }
}
