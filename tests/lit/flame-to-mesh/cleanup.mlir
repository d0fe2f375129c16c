// RUN: pyflame-opt %s -p decompose,flame-to-mesh | filecheck %s

// What flame-to-mesh leaves behind is removed (flame_lowering/cleanup.py): `(w.T).T` remade
// on SUMMA's grid from `w` as a transpose and a transpose back gives `w` itself, and the
// transpose `w.T` the first product read in place (transpose_b) is then read by nothing and
// goes. Without the cleanup: %1 = mesh.transpose %0, %4 = mesh.transpose %1, and %4 the
// second product's rhs.
// CHECK-LABEL: func.func @transpose_back
// CHECK-NEXT:   %0 = mesh.scatter %w : tensor<10x256xf32> -> !mesh.tensor<10x256xf32 on 8x8 split [r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %h
// CHECK-NEXT:   %2 = mesh.matmul summa transpose_b %1, %0
// CHECK-NEXT:   %3 = mesh.scatter %g
// CHECK-NEXT:   %4 = mesh.matmul summa %3, %0 : (!mesh.tensor<64x10xf32 on 8x8 split [r, c]>, !mesh.tensor<10x256xf32 on 8x8 split [r, c]>)
// CHECK-NOT:    mesh.transpose
// CHECK:        func.return

// Both returned: the transpose stays for its gather, the transpose back is the source.
// CHECK-LABEL: func.func @both_returned
// CHECK-NEXT:   %0 = mesh.scatter %a
// CHECK-NEXT:   %1 = mesh.transpose %0 perm [1, 0] : !mesh.tensor<6x10xf32 on 2x2 split [r, c]> -> !mesh.tensor<10x6xf32 on 2x2 split [c, r]>
// CHECK-NEXT:   %2 = mesh.gather %1
// CHECK-NEXT:   %3 = mesh.gather %0
// CHECK-NEXT:   func.return %2, %3

// Local products of blocks transposed on every PE read the blocks in place: `h @ w.T`
// (transpose_b of w's blocks) and `g.T @ h` (transpose_a of g's); without the cleanup each
// operand was a mesh.transpose first.
// CHECK-LABEL: func.func @local_products
// CHECK-NOT:    mesh.transpose
// CHECK:        %2 = mesh.local_matmul transpose_b %0, %1 : (!mesh.tensor<64x256xf32 on 4x4 split [r, c]>, !mesh.tensor<10x256xf32 on 4x4 split [_, c]>) -> !mesh.tensor<4x64x10xf32 on 4x4 split [c, r, _]>
// CHECK-NOT:    mesh.transpose
// CHECK:        %6 = mesh.local_matmul transpose_a %5, %0 : (!mesh.tensor<64x10xf32 on 4x4 split [r, _]>, !mesh.tensor<64x256xf32 on 4x4 split [r, c]>) -> !mesh.tensor<4x10x256xf32 on 4x4 split [r, _, c]>
// CHECK-NOT:    mesh.transpose
// CHECK:        func.return

builtin.module {
  func.func @transpose_back(%w: tensor<10x256xf32> {flame.layout = #flame.layout<grid [8, 8]>}, %h: tensor<64x256xf32> {flame.layout = #flame.layout<grid [8, 8]>}, %g: tensor<64x10xf32> {flame.layout = #flame.layout<grid [8, 8]>}) -> (tensor<64x10xf32>, tensor<64x256xf32>) {
    %t = flame.transpose %w {perm = array<i64: 1, 0>} : tensor<10x256xf32> -> tensor<256x10xf32>
    %p = flame.matmul %h, %t : (tensor<64x256xf32>, tensor<256x10xf32>) -> tensor<64x10xf32>
    %tt = flame.transpose %t {perm = array<i64: 1, 0>} : tensor<256x10xf32> -> tensor<10x256xf32>
    %q = flame.matmul %g, %tt : (tensor<64x10xf32>, tensor<10x256xf32>) -> tensor<64x256xf32>
    func.return %p, %q : tensor<64x10xf32>, tensor<64x256xf32>
  }
  func.func @both_returned(%a: tensor<6x10xf32> {flame.layout = #flame.layout<grid [2, 2]>}) -> (tensor<10x6xf32>, tensor<6x10xf32>) {
    %t = flame.transpose %a {perm = array<i64: 1, 0>} : tensor<6x10xf32> -> tensor<10x6xf32>
    %tt = flame.transpose %t {perm = array<i64: 1, 0>} : tensor<10x6xf32> -> tensor<6x10xf32>
    func.return %t, %tt : tensor<10x6xf32>, tensor<6x10xf32>
  }
  func.func @local_products(%w: tensor<10x256xf32>, %h: tensor<64x256xf32>, %g: tensor<64x10xf32>) -> (tensor<64x10xf32>, tensor<10x256xf32>) {
    %t = flame.transpose %w {perm = array<i64: 1, 0>} : tensor<10x256xf32> -> tensor<256x10xf32>
    %p = flame.matmul %h, %t : (tensor<64x256xf32>, tensor<256x10xf32>) -> tensor<64x10xf32>
    %gt = flame.transpose %g {perm = array<i64: 1, 0>} : tensor<64x10xf32> -> tensor<10x64xf32>
    %q = flame.matmul %gt, %h : (tensor<10x64xf32>, tensor<64x256xf32>) -> tensor<10x256xf32>
    %r = flame.add %q, %w : (tensor<10x256xf32>, tensor<10x256xf32>) -> tensor<10x256xf32>
    func.return %p, %r : tensor<64x10xf32>, tensor<10x256xf32>
  }
}
