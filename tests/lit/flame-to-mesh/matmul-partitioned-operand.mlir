// BUG (passes/flame_to_mesh.py, matmul_grid): an operand on a non-square grid (here a
// row_partition over 16x1 PEs) makes SUMMA's grid side `min(16, 1) = 1`, so the whole matmul is
// gathered onto one PE and plan-memory refuses it (768 KiB per PE). Without the operand's hint
// the same program compiles on an 8x8 grid. The grid should not shrink below what the sizes need.
// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// CHECK:     mesh.scatter %a : tensor<256x256xf32> -> !mesh.tensor<256x256xf32 on 16x1 split [r, _]>
// CHECK:     mesh.matmul {{.*}} -> !mesh.tensor<256x256xf32 on [[G:[0-9]+]]x[[G]] split [r, c]>
// CHECK-NOT: on 1x1
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<256x256xf32> {flame.layout = #flame.layout<row_partition [16]>}, %b: tensor<256x256xf32>) -> tensor<256x256xf32> {
    %0 = flame.matmul %a, %b : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32> loc("net.py":3:0)
    func.return %0 : tensor<256x256xf32>
  }
}
