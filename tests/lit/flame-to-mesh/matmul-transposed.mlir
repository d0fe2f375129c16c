// RUN: pyflame-opt %s -p decompose,flame-to-mesh | filecheck %s

// A flame.transpose of a matmul operand's last two dims folds into mesh.matmul's transpose_a /
// transpose_b (the cost model estimates it cheaper than moving the transpose to SUMMA's split):
// the operand stays where it is and no mesh.transpose or redistribute is made
// (flame_lowering/matmul.py `fold_transposes`).

// x.T @ y: A read in place, split [r, c] as scattered.
// CHECK-LABEL: func.func @a_transposed
// CHECK-NEXT:   %0 = mesh.scatter %a : tensor<48x40xf32> -> !mesh.tensor<48x40xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %b : tensor<48x36xf32> -> !mesh.tensor<48x36xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %2 = mesh.matmul summa transpose_a %0, %1 : (!mesh.tensor<48x40xf32 on 4x4 split [r, c]>, !mesh.tensor<48x36xf32 on 4x4 split [r, c]>) -> !mesh.tensor<40x36xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %3 = mesh.gather %2

// q @ k^T with a batch dim: K's contraction dim is its last (50 over 4: padded), so that is the
// one whose padding must be 0; both come from the host, whose tiles hold zeros there.
// CHECK-LABEL: func.func @b_transposed_batched
// CHECK-NEXT:   %0 = mesh.scatter %k : tensor<2x36x50xf32> -> !mesh.tensor<2x36x50xf32 on 4x4 split [_, r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %q : tensor<2x40x50xf32> -> !mesh.tensor<2x40x50xf32 on 4x4 split [_, r, c]>
// CHECK-NEXT:   %2 = mesh.matmul summa transpose_b %1, %0 : (!mesh.tensor<2x40x50xf32 on 4x4 split [_, r, c]>, !mesh.tensor<2x36x50xf32 on 4x4 split [_, r, c]>) -> !mesh.tensor<2x40x36xf32 on 4x4 split [_, r, c]>

// The transpose is also a result: its local mesh.transpose stays for the gather, the product
// still reads the source.
// CHECK-LABEL: func.func @transpose_also_returned
// CHECK-NEXT:   %0 = mesh.scatter %a
// CHECK-NEXT:   %1 = mesh.transpose %0 perm [1, 0]
// CHECK-NEXT:   %2 = mesh.scatter %b
// CHECK-NEXT:   %3 = mesh.matmul summa transpose_a %0, %2
// CHECK:        %5 = mesh.gather %1

builtin.module {
  func.func @a_transposed(%a: tensor<48x40xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %b: tensor<48x36xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<40x36xf32> {
    %0 = flame.transpose %a {perm = array<i64: 1, 0>} : tensor<48x40xf32> -> tensor<40x48xf32>
    %1 = flame.matmul %0, %b : (tensor<40x48xf32>, tensor<48x36xf32>) -> tensor<40x36xf32>
    func.return %1 : tensor<40x36xf32>
  }
  func.func @b_transposed_batched(%q: tensor<2x40x50xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %k: tensor<2x36x50xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<2x40x36xf32> {
    %0 = flame.transpose %k {perm = array<i64: 0, 2, 1>} : tensor<2x36x50xf32> -> tensor<2x50x36xf32>
    %1 = flame.matmul %q, %0 : (tensor<2x40x50xf32>, tensor<2x50x36xf32>) -> tensor<2x40x36xf32>
    func.return %1 : tensor<2x40x36xf32>
  }
  func.func @transpose_also_returned(%a: tensor<48x40xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %b: tensor<48x36xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> (tensor<40x36xf32>, tensor<40x48xf32>) {
    %0 = flame.transpose %a {perm = array<i64: 1, 0>} : tensor<48x40xf32> -> tensor<40x48xf32>
    %1 = flame.matmul %0, %b : (tensor<40x48xf32>, tensor<48x36xf32>) -> tensor<40x36xf32>
    func.return %1, %0 : tensor<40x36xf32>, tensor<40x48xf32>
  }
}
