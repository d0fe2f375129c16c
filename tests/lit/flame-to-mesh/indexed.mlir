// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// flame.gather_rows: the table stays where it is placed, the index is placed as a copy on
// every PE of the table's grid, each PE reads the rows it owns (one partial per PE row), and
// an allreduce across the table's row split assembles the rows. scatter_add_rows, the
// transpose: its source is placed split like the result's columns, copied down the rows.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @lookup
// CHECK-NEXT:    %0 = mesh.scatter %w : tensor<64x16xf32> -> !mesh.tensor<64x16xf32 on 4x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %i : tensor<5xi32> -> !mesh.tensor<5xi32 on 4x2 split [_]>
// CHECK-NEXT:    %2 = mesh.gather_rows %0, %1 : (!mesh.tensor<64x16xf32 on 4x2 split [r, c]>, !mesh.tensor<5xi32 on 4x2 split [_]>) -> !mesh.tensor<4x5x16xf32 on 4x2 split [r, _, c]>
// CHECK-NEXT:    %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x5x16xf32 on 4x2 split [r, _, c]> -> !mesh.tensor<1x5x16xf32 on 4x2 split [_, _, c]>
// CHECK-NEXT:    %4 = mesh.reshape %3 : !mesh.tensor<1x5x16xf32 on 4x2 split [_, _, c]> -> !mesh.tensor<5x16xf32 on 4x2 split [_, c]>
// CHECK-NEXT:    %5 = mesh.gather %4
func.func @lookup(%w: tensor<64x16xf32> {flame.layout = #flame.layout<grid [4, 2]>}, %i: tensor<5xi32>) -> tensor<5x16xf32> {
  %0 = flame.gather_rows %w, %i : (tensor<64x16xf32>, tensor<5xi32>) -> tensor<5x16xf32>
  func.return %0 : tensor<5x16xf32>
}

// A table on one PE: no allreduce.
// CHECK-LABEL: func.func @single
// CHECK:         %2 = mesh.gather_rows %0, %1 : (!mesh.tensor<8x4xf32 on 1x1 split [_, _]>, !mesh.tensor<3xi32 on 1x1 split [_]>) -> !mesh.tensor<1x3x4xf32 on 1x1 split [_, _, _]>
// CHECK-NEXT:    %3 = mesh.reshape %2 : !mesh.tensor<1x3x4xf32 on 1x1 split [_, _, _]> -> !mesh.tensor<3x4xf32 on 1x1 split [_, _]>
func.func @single(%w: tensor<8x4xf32>, %i: tensor<3xi32>) -> tensor<3x4xf32> {
  %0 = flame.gather_rows %w, %i : (tensor<8x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// CHECK-LABEL: func.func @grad
// CHECK-NEXT:    %0 = mesh.scatter %i : tensor<5xi32> -> !mesh.tensor<5xi32 on 4x2 split [_]>
// CHECK-NEXT:    %1 = mesh.scatter %g : tensor<5x16xf32> -> !mesh.tensor<5x16xf32 on 4x2 split [_, c]>
// CHECK-NEXT:    %2 = mesh.scatter_add_rows %0, %1 : (!mesh.tensor<5xi32 on 4x2 split [_]>, !mesh.tensor<5x16xf32 on 4x2 split [_, c]>) -> !mesh.tensor<64x16xf32 on 4x2 split [r, c]>
func.func @grad(%i: tensor<5xi32>, %g: tensor<5x16xf32>) -> tensor<64x16xf32> {
  %0 = flame.scatter_add_rows %i, %g {rows = 64 : i64, layout = #flame.layout<grid [4, 2]>} : (tensor<5xi32>, tensor<5x16xf32>) -> tensor<64x16xf32>
  func.return %0 : tensor<64x16xf32>
}
}

// An index of any shape (embedding's [batch, tokens]): placed as a copy on every PE, no reshape.
// CHECK-LABEL: func.func @tokens
// CHECK-NEXT:    %0 = mesh.scatter %w : tensor<64x16xf32> -> !mesh.tensor<64x16xf32 on 4x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %i : tensor<2x3xi32> -> !mesh.tensor<2x3xi32 on 4x2 split [_, _]>
// CHECK-NEXT:    %2 = mesh.gather_rows %0, %1 : (!mesh.tensor<64x16xf32 on 4x2 split [r, c]>, !mesh.tensor<2x3xi32 on 4x2 split [_, _]>) -> !mesh.tensor<4x2x3x16xf32 on 4x2 split [r, _, _, c]>
// CHECK-NEXT:    %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x2x3x16xf32 on 4x2 split [r, _, _, c]> -> !mesh.tensor<1x2x3x16xf32 on 4x2 split [_, _, _, c]>
// CHECK-NEXT:    %4 = mesh.reshape %3 : !mesh.tensor<1x2x3x16xf32 on 4x2 split [_, _, _, c]> -> !mesh.tensor<2x3x16xf32 on 4x2 split [_, _, c]>
builtin.module attributes {pf.target = #pf.target<"small">} {
func.func @tokens(%w: tensor<64x16xf32> {flame.layout = #flame.layout<grid [4, 2]>}, %i: tensor<2x3xi32>) -> tensor<2x3x16xf32> {
  %0 = flame.gather_rows %w, %i : (tensor<64x16xf32>, tensor<2x3xi32>) -> tensor<2x3x16xf32>
  func.return %0 : tensor<2x3x16xf32>
}
}
