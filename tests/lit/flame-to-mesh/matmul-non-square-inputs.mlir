// ODDITY (passes/flame_to_mesh.py, collect_hints): the inputs of a matmul take the matmul's
// result hint as their own, so with a non-square hint they are scattered on the 2x4 grid and then
// redistributed to SUMMA's 2x2 grid. Placing them on the 2x2 grid directly would save two
// redistributions (lazy leaves are meant to be "placed directly in the layout that use wants").
// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// CHECK-LABEL: func.func @non_square_hint
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<48x32xf32> -> !mesh.tensor<48x32xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.matmul summa %0, %1
// CHECK-NEXT:    %3 = mesh.redistribute %2 : !mesh.tensor<64x32xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x32xf32 on 2x4 split [r, c]>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @non_square_hint(%a: tensor<64x48xf32>, %b: tensor<48x32xf32>) -> tensor<64x32xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [2, 4]>} : (tensor<64x48xf32>, tensor<48x32xf32>) -> tensor<64x32xf32>
    func.return %0 : tensor<64x32xf32>
  }
}
