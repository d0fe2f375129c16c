// RUN: pyflame-opt %s -p decompose,flame-to-mesh | filecheck %s

// Batched GEMVs with a transposed matrix read in place (flame_lowering/gemv.py).
// @linear: F.linear on 3 rows [3, 1, 48] with W [40, 48] on a 4x4 grid: the rows are one
// [3, 48] block of copies (a local reshape), W stays where the user put it and the product
// reads it transposed (`transpose_b`: no mesh.transpose), the partials are allreduced along
// the PE rows' contraction axis.
// @attention: q [2, 3, 1, 16] @ K^T with K [2, 3, 37, 16] on 4x4: the batch dims whole on
// every PE, K read in place.
// CHECK-LABEL: func.func @linear
// CHECK-NEXT:   %0 = mesh.scatter %w : tensor<40x48xf32> -> !mesh.tensor<40x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %x : tensor<3x1x48xf32> -> !mesh.tensor<3x1x48xf32 on 4x4 split [_, _, c]>
// CHECK-NEXT:   %2 = mesh.reshape %1 : !mesh.tensor<3x1x48xf32 on 4x4 split [_, _, c]> -> !mesh.tensor<3x48xf32 on 4x4 split [_, c]>
// CHECK-NEXT:   %3 = mesh.local_matmul transpose_b %2, %0 : (!mesh.tensor<3x48xf32 on 4x4 split [_, c]>, !mesh.tensor<40x48xf32 on 4x4 split [r, c]>) -> !mesh.tensor<4x3x40xf32 on 4x4 split [c, _, r]>
// CHECK-NEXT:   %4 = mesh.allreduce sum %3 dims [0] : !mesh.tensor<4x3x40xf32 on 4x4 split [c, _, r]> -> !mesh.tensor<1x3x40xf32 on 4x4 split [_, _, r]>
// CHECK-NEXT:   %5 = mesh.reshape %4 : !mesh.tensor<1x3x40xf32 on 4x4 split [_, _, r]> -> !mesh.tensor<3x40xf32 on 4x4 split [_, r]>
// CHECK-NEXT:   %6 = mesh.reshape %5 : !mesh.tensor<3x40xf32 on 4x4 split [_, r]> -> !mesh.tensor<3x1x40xf32 on 4x4 split [_, _, r]>
// CHECK-NEXT:   %7 = mesh.gather %6 : !mesh.tensor<3x1x40xf32 on 4x4 split [_, _, r]> -> tensor<3x1x40xf32>
// CHECK-NEXT:   func.return %7 : tensor<3x1x40xf32>
// CHECK-LABEL: func.func @attention
// CHECK-NEXT:   %0 = mesh.scatter %k : tensor<2x3x37x16xf32> -> !mesh.tensor<2x3x37x16xf32 on 4x4 split [_, _, r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %q : tensor<2x3x1x16xf32> -> !mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, c]>
// CHECK-NEXT:   %2 = mesh.local_matmul transpose_b %1, %0 : (!mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, c]>, !mesh.tensor<2x3x37x16xf32 on 4x4 split [_, _, r, c]>) -> !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [c, _, _, _, r]>
// CHECK-NEXT:   %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [c, _, _, _, r]> -> !mesh.tensor<1x2x3x1x37xf32 on 4x4 split [_, _, _, _, r]>
// CHECK-NEXT:   %4 = mesh.reshape %3 : !mesh.tensor<1x2x3x1x37xf32 on 4x4 split [_, _, _, _, r]> -> !mesh.tensor<2x3x1x37xf32 on 4x4 split [_, _, _, r]>
// CHECK-NEXT:   %5 = mesh.gather %4 : !mesh.tensor<2x3x1x37xf32 on 4x4 split [_, _, _, r]> -> tensor<2x3x1x37xf32>
// CHECK-NEXT:   func.return %5 : tensor<2x3x1x37xf32>
// CHECK-NOT:     mesh.transpose

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @linear(%x: tensor<3x1x48xf32>, %w: tensor<40x48xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<3x1x40xf32> {
    %0 = flame.transpose %w {perm = array<i64: 1, 0>} : tensor<40x48xf32> -> tensor<48x40xf32>
    %1 = flame.matmul %x, %0 : (tensor<3x1x48xf32>, tensor<48x40xf32>) -> tensor<3x1x40xf32>
    func.return %1 : tensor<3x1x40xf32>
  }
  func.func @attention(%q: tensor<2x3x1x16xf32>, %k: tensor<2x3x37x16xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<2x3x1x37xf32> {
    %0 = flame.transpose %k {perm = array<i64: 0, 1, 3, 2>} : tensor<2x3x37x16xf32> -> tensor<2x3x16x37xf32>
    %1 = flame.matmul %q, %0 : (tensor<2x3x1x16xf32>, tensor<2x3x16x37xf32>) -> tensor<2x3x1x37xf32>
    func.return %1 : tensor<2x3x1x37xf32>
  }
}
