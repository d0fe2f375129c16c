// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// matmul becomes SUMMA on a square grid with all three operands split [r, c]. Padding of the
// contraction dim K must be zero in both operands so it adds nothing: mask_pad, unless the
// operand's tiles already hold zeros there (the host's, a redistribution's).

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @summa
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<48x32xf32> -> !mesh.tensor<48x32xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %3 = mesh.gather %2 : !mesh.tensor<64x32xf32 on 4x4 split [r, c]> -> tensor<64x32xf32>
// CHECK-NOT:     mesh.mask_pad
  func.func @summa(%a: tensor<64x48xf32>, %b: tensor<48x32xf32>) -> tensor<64x32xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [4, 4]>} : (tensor<64x48xf32>, tensor<48x32xf32>) -> tensor<64x32xf32>
    func.return %0 : tensor<64x32xf32>
  }

// K = 50 over 4: blocks of 13, 2 padding columns of A and 2 padding rows of B. Both come from
// the host, whose tiles hold zeros there: nothing to mask.
// CHECK-LABEL: func.func @k_padding
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x50xf32> -> !mesh.tensor<64x50xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<50x32xf32> -> !mesh.tensor<50x32xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<64x50xf32 on 4x4 split [r, c]>, !mesh.tensor<50x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
  func.func @k_padding(%a: tensor<64x50xf32>, %b: tensor<50x32xf32>) -> tensor<64x32xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [4, 4]>} : (tensor<64x50xf32>, tensor<50x32xf32>) -> tensor<64x32xf32>
    func.return %0 : tensor<64x32xf32>
  }

// The same with both operands computed on the product's grid (exp(0) = 1, sigmoid(0) = 0.5 in
// their padding): both are masked. (Computed elsewhere, they would be redistributed onto it,
// and the exchange zeroes the padding.)
// CHECK-LABEL: func.func @k_padding_computed
// CHECK:         %[[A:.*]] = mesh.unary exp
// CHECK:         %[[B:.*]] = mesh.unary sigmoid
// CHECK-NEXT:    %[[MA:.*]] = mesh.mask_pad %[[A]] value 0.000000e+00 : !mesh.tensor<64x50xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %[[MB:.*]] = mesh.mask_pad %[[B]] value 0.000000e+00 : !mesh.tensor<50x32xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    mesh.matmul summa %[[MA]], %[[MB]]
  func.func @k_padding_computed(%a: tensor<64x50xf32>, %b: tensor<50x32xf32>) -> tensor<64x32xf32> {
    %0 = flame.exp %a {layout = #flame.layout<grid [4, 4]>} : tensor<64x50xf32> -> tensor<64x50xf32>
    %1 = flame.sigmoid %b {layout = #flame.layout<grid [4, 4]>} : tensor<50x32xf32> -> tensor<50x32xf32>
    %2 = flame.matmul %0, %1 {layout = #flame.layout<grid [4, 4]>} : (tensor<64x50xf32>, tensor<50x32xf32>) -> tensor<64x32xf32>
    func.return %2 : tensor<64x32xf32>
  }

// Padding of M and N only (K = 48 divides): nothing to mask.
// CHECK-LABEL: func.func @mn_padding
// CHECK-NOT:     mesh.mask_pad
// CHECK:         mesh.matmul summa %0, %1 : (!mesh.tensor<63x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x30xf32 on 4x4 split [r, c]>) -> !mesh.tensor<63x30xf32 on 4x4 split [r, c]>
  func.func @mn_padding(%a: tensor<63x48xf32>, %b: tensor<48x30xf32>) -> tensor<63x30xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [4, 4]>} : (tensor<63x48xf32>, tensor<48x30xf32>) -> tensor<63x30xf32>
    func.return %0 : tensor<63x30xf32>
  }

// A non-square grid hint: SUMMA runs on the largest square inside it (2x2), and the result is
// redistributed to the hinted 2x4 grid.
// CHECK-LABEL: func.func @non_square_hint
// CHECK:         %[[C:.*]] = mesh.matmul summa %{{.*}}, %{{.*}} : (!mesh.tensor<64x48xf32 on 2x2 split [r, c]>, !mesh.tensor<48x32xf32 on 2x2 split [r, c]>) -> !mesh.tensor<64x32xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %[[R:.*]] = mesh.redistribute %[[C]] : !mesh.tensor<64x32xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x32xf32 on 2x4 split [r, c]>
// CHECK-NEXT:    mesh.gather %[[R]] : !mesh.tensor<64x32xf32 on 2x4 split [r, c]> -> tensor<64x32xf32>
  func.func @non_square_hint(%a: tensor<64x48xf32>, %b: tensor<48x32xf32>) -> tensor<64x32xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [2, 4]>} : (tensor<64x48xf32>, tensor<48x32xf32>) -> tensor<64x32xf32>
    func.return %0 : tensor<64x32xf32>
  }

// An operand already on a square [r, c] grid decides the grid; the other is placed to match.
// CHECK-LABEL: func.func @operand_grid
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.unary relu %0 : !mesh.tensor<64x48xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.scatter %b : tensor<48x32xf32> -> !mesh.tensor<48x32xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.matmul summa %1, %2
// CHECK-NOT:     mesh.redistribute
  func.func @operand_grid(%a: tensor<64x48xf32>, %b: tensor<48x32xf32>) -> tensor<64x32xf32> {
    %0 = flame.relu %a {layout = #flame.layout<grid [2, 2]>} : tensor<64x48xf32> -> tensor<64x48xf32>
    %1 = flame.matmul %0, %b : (tensor<64x48xf32>, tensor<48x32xf32>) -> tensor<64x32xf32>
    func.return %1 : tensor<64x32xf32>
  }

// Small operands and no hint: SUMMA on one PE.
// CHECK-LABEL: func.func @one_pe
// CHECK:         mesh.matmul summa %0, %1 : (!mesh.tensor<8x8xf32 on 1x1 split [r, c]>, !mesh.tensor<8x8xf32 on 1x1 split [r, c]>) -> !mesh.tensor<8x8xf32 on 1x1 split [r, c]>
  func.func @one_pe(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) -> tensor<8x8xf32> {
    %0 = flame.matmul %a, %b : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    func.return %0 : tensor<8x8xf32>
  }
}
