// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Batched matmul: SUMMA on a square grid with the batch dims whole on every PE and the last two
// dims split [r, c]; an operand without batch dims is shared by every batch entry.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @batched
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<3x8x6xf32> -> !mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<3x6x4xf32> -> !mesh.tensor<3x6x4xf32 on 2x2 split [_, r, c]>
// CHECK-NEXT:    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<3x6x4xf32 on 2x2 split [_, r, c]>) -> !mesh.tensor<3x8x4xf32 on 2x2 split [_, r, c]>
  func.func @batched(%a: tensor<3x8x6xf32> {flame.layout = #flame.layout<grid [2, 2]>}, %b: tensor<3x6x4xf32>) -> tensor<3x8x4xf32> {
    %0 = flame.matmul %a, %b : (tensor<3x8x6xf32>, tensor<3x6x4xf32>) -> tensor<3x8x4xf32>
    func.return %0 : tensor<3x8x4xf32>
  }

// K = 5 over 2 PEs: the contraction padding of both operands must be 0, and is: the host's
// tiles hold zeros there (no mask_pad).
// CHECK-LABEL: func.func @shared_rhs
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<2x7x5xf32> -> !mesh.tensor<2x7x5xf32 on 2x2 split [_, r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %w : tensor<5x6xf32> -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<2x7x5xf32 on 2x2 split [_, r, c]>, !mesh.tensor<5x6xf32 on 2x2 split [r, c]>) -> !mesh.tensor<2x7x6xf32 on 2x2 split [_, r, c]>
  func.func @shared_rhs(%a: tensor<2x7x5xf32>, %w: tensor<5x6xf32>) -> tensor<2x7x6xf32> {
    %0 = flame.matmul %a, %w {layout = #flame.layout<grid [2, 2]>} : (tensor<2x7x5xf32>, tensor<5x6xf32>) -> tensor<2x7x6xf32>
    func.return %0 : tensor<2x7x6xf32>
  }

// A batch split over PEs by the user's layout is redistributed to [_, r, c] first.
// CHECK-LABEL: func.func @partitioned_batch
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<4x8x8xf32> -> !mesh.tensor<4x8x8xf32 on 4x1 split [r, _, _]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<4x8x8xf32 on 4x1 split [r, _, _]> -> !mesh.tensor<4x8x8xf32 on 2x2 split [_, r, c]>
// CHECK-NEXT:    %2 = mesh.scatter %b : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.matmul summa %1, %2
  func.func @partitioned_batch(%a: tensor<4x8x8xf32> {flame.layout = #flame.layout<row_partition [4]>}, %b: tensor<8x8xf32>) -> tensor<4x8x8xf32> {
    %0 = flame.matmul %a, %b : (tensor<4x8x8xf32>, tensor<8x8xf32>) -> tensor<4x8x8xf32>
    func.return %0 : tensor<4x8x8xf32>
  }
}
