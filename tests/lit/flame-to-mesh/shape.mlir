// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// transpose is local: every PE transposes its tile and the split permutes with the dims.
// A reshape that only adds or drops size-1 dims keeps every tile as it is (mesh.reshape); when
// only split size-1 dims are in the way they are unsplit first (a redistribute); any other
// reshape of a split tensor is one mesh.relayout (a pe.exchange in row-major order).

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @transpose
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.transpose %0 perm [1, 0] : !mesh.tensor<64x48xf32 on 4x2 split [r, c]> -> !mesh.tensor<48x64xf32 on 4x2 split [c, r]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<48x64xf32 on 4x2 split [c, r]> -> tensor<48x64xf32>
// CHECK-NOT:     mesh.redistribute
  func.func @transpose(%a: tensor<64x48xf32> {flame.layout = #flame.layout<grid [4, 2]>}) -> tensor<48x64xf32> {
    %0 = flame.transpose %a {perm = array<i64: 1, 0>} : tensor<64x48xf32> -> tensor<48x64xf32>
    func.return %0 : tensor<48x64xf32>
  }

// CHECK-LABEL: func.func @transpose_3d
// CHECK:         mesh.transpose %0 perm [2, 0, 1] : !mesh.tensor<2x64x48xf32 on 4x4 split [_, r, c]> -> !mesh.tensor<48x2x64xf32 on 4x4 split [c, _, r]>
  func.func @transpose_3d(%a: tensor<2x64x48xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<48x2x64xf32> {
    %0 = flame.transpose %a {perm = array<i64: 2, 0, 1>} : tensor<2x64x48xf32> -> tensor<48x2x64xf32>
    func.return %0 : tensor<48x2x64xf32>
  }

// Squeeze and unsqueeze: local, no data moves.
// CHECK-LABEL: func.func @squeeze
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x1xf32> -> !mesh.tensor<64x1xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %1 = mesh.reshape %0 : !mesh.tensor<64x1xf32 on 4x1 split [r, _]> -> !mesh.tensor<64xf32 on 4x1 split [r]>
// CHECK-NEXT:    %2 = mesh.reshape %1 : !mesh.tensor<64xf32 on 4x1 split [r]> -> !mesh.tensor<1x64xf32 on 4x1 split [_, r]>
// CHECK-NEXT:    %3 = mesh.gather %2 : !mesh.tensor<1x64xf32 on 4x1 split [_, r]> -> tensor<1x64xf32>
// CHECK-NOT:     mesh.redistribute
  func.func @squeeze(%a: tensor<64x1xf32> {flame.layout = #flame.layout<row_partition [4]>}) -> tensor<1x64xf32> {
    %0 = flame.reshape %a : tensor<64x1xf32> -> tensor<64xf32>
    %1 = flame.reshape %0 : tensor<64xf32> -> tensor<1x64xf32>
    func.return %1 : tensor<1x64xf32>
  }

// A size-1 dim split over the grid's rows holds its data on row 0 only: it is replicated down
// the rows (unsplit), then dropped in place.
// CHECK-LABEL: func.func @squeeze_split_unit_dim
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<1x48xf32> -> !mesh.tensor<1x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<1x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x48xf32 on 4x4 split [_, c]>
// CHECK-NEXT:    %2 = mesh.reshape %1 : !mesh.tensor<1x48xf32 on 4x4 split [_, c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
  func.func @squeeze_split_unit_dim(%a: tensor<1x48xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<48xf32> {
    %0 = flame.reshape %a : tensor<1x48xf32> -> tensor<48xf32>
    func.return %0 : tensor<48xf32>
  }

// On a single PE any reshape is local.
// CHECK-LABEL: func.func @single_pe
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %1 = mesh.reshape %0 : !mesh.tensor<6x4xf32 on 1x1 split [_, _]> -> !mesh.tensor<24xf32 on 1x1 split [_]>
// CHECK-NEXT:    %2 = mesh.gather %1
  func.func @single_pe(%a: tensor<6x4xf32>) -> tensor<24xf32> {
    %0 = flame.reshape %a : tensor<6x4xf32> -> tensor<24xf32>
    func.return %0 : tensor<24xf32>
  }

// Elements move between PEs: one mesh.relayout sends every element straight to its place in
// the result's layout (the source's 4x4 grid, split like a `grid` layout).
// CHECK-LABEL: func.func @moving_reshape
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<96x64xf32> -> !mesh.tensor<96x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.relayout %0 : !mesh.tensor<96x64xf32 on 4x4 split [r, c]> -> !mesh.tensor<64x96xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<64x96xf32 on 4x4 split [r, c]> -> tensor<64x96xf32>
  func.func @moving_reshape(%a: tensor<96x64xf32>) -> tensor<64x96xf32> {
    %0 = flame.reshape %a : tensor<96x64xf32> -> tensor<64x96xf32>
    func.return %0 : tensor<64x96xf32>
  }

// A flatten of a split tensor is not a squeeze: it moves data too (a 1-D result over all PEs).
// CHECK-LABEL: func.func @flatten_split
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.relayout %0 : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<3072xf32 on 4x4 split [rc]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<3072xf32 on 4x4 split [rc]> -> tensor<3072xf32>
// CHECK-NOT:     on 1x1
  func.func @flatten_split(%a: tensor<64x48xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<3072xf32> {
    %0 = flame.reshape %a : tensor<64x48xf32> -> tensor<3072xf32>
    func.return %0 : tensor<3072xf32>
  }
}
