// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Elementwise ops run on tiles. Operands already in the same layout need no communication;
// an operand in another layout is redistributed to the first operand's layout; a `layout` hint
// on the op places the result (and the inputs nobody else placed) there.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @same_layout(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>)
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.unary relu %0 : !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.scatter %b : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %3 = mesh.unary neg %2 : !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %4 = mesh.binary add %1, %3 : !mesh.tensor<64x64xf32 on 4x4 split [r, c]>, !mesh.tensor<64x64xf32 on 4x4 split [r, c]> -> !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %5 = mesh.gather %4 : !mesh.tensor<64x64xf32 on 4x4 split [r, c]> -> tensor<64x64xf32>
// CHECK-NEXT:    func.return %5 : tensor<64x64xf32>
  func.func @same_layout(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %0 = flame.relu %a {layout = #flame.layout<grid [4, 4]>} : tensor<64x64xf32> -> tensor<64x64xf32>
    %1 = flame.neg %b {layout = #flame.layout<grid [4, 4]>} : tensor<64x64xf32> -> tensor<64x64xf32>
    %2 = flame.add %0, %1 : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    func.return %2 : tensor<64x64xf32>
  }

// The rhs (row_partition over 4 PEs) moves to the lhs's 4x4 grid before the tile-wise sub.
// CHECK-LABEL: func.func @different_layouts
// CHECK:         %[[A:.*]] = mesh.unary relu %{{.*}} : !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK:         %[[B:.*]] = mesh.unary relu %{{.*}} : !mesh.tensor<64x64xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %[[M:.*]] = mesh.redistribute %[[B]] : !mesh.tensor<64x64xf32 on 4x1 split [r, _]> -> !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %[[S:.*]] = mesh.binary sub %[[A]], %[[M]] : !mesh.tensor<64x64xf32 on 4x4 split [r, c]>, !mesh.tensor<64x64xf32 on 4x4 split [r, c]> -> !mesh.tensor<64x64xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    mesh.gather %[[S]] : !mesh.tensor<64x64xf32 on 4x4 split [r, c]> -> tensor<64x64xf32>
  func.func @different_layouts(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %0 = flame.relu %a {layout = #flame.layout<grid [4, 4]>} : tensor<64x64xf32> -> tensor<64x64xf32>
    %1 = flame.relu %b {layout = #flame.layout<row_partition [4]>} : tensor<64x64xf32> -> tensor<64x64xf32>
    %2 = flame.sub %0, %1 : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    func.return %2 : tensor<64x64xf32>
  }

// A hint on mul places its inputs directly (no redistribution); div follows its operands; the
// hint on neg is honoured by redistributing its operand (neg then runs on the hinted grid).
// CHECK-LABEL: func.func @hint_honoured
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.binary mul %0, %1 : !mesh.tensor<64x64xf32 on 2x2 split [r, c]>, !mesh.tensor<64x64xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.binary div %2, %0 : !mesh.tensor<64x64xf32 on 2x2 split [r, c]>, !mesh.tensor<64x64xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %4 = mesh.redistribute %3 : !mesh.tensor<64x64xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x64xf32 on 1x4 split [_, c]>
// CHECK-NEXT:    %5 = mesh.unary neg %4 : !mesh.tensor<64x64xf32 on 1x4 split [_, c]>
// CHECK-NEXT:    %6 = mesh.gather %5 : !mesh.tensor<64x64xf32 on 1x4 split [_, c]> -> tensor<64x64xf32>
// CHECK-NOT:     mesh.redistribute
  func.func @hint_honoured(%a: tensor<64x64xf32>, %b: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %0 = flame.mul %a, %b {layout = #flame.layout<grid [2, 2]>} : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    %1 = flame.div %0, %a : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    %2 = flame.neg %1 {layout = #flame.layout<col_partition [4]>} : tensor<64x64xf32> -> tensor<64x64xf32>
    func.return %2 : tensor<64x64xf32>
  }

// A hint on a program input (a `flame.layout` argument attribute) places it and its partner.
// CHECK-LABEL: func.func @input_hint
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 2x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 2x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.binary add %0, %1 : !mesh.tensor<64x64xf32 on 2x4 split [r, c]>, !mesh.tensor<64x64xf32 on 2x4 split [r, c]> -> !mesh.tensor<64x64xf32 on 2x4 split [r, c]>
  func.func @input_hint(%a: tensor<64x64xf32> {flame.layout = #flame.layout<grid [2, 4]>}, %b: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %0 = flame.add %a, %b : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    func.return %0 : tensor<64x64xf32>
  }

// Creation ops are placed lazily at their first use, in the layout that use wants.
// CHECK-LABEL: func.func @creation(
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.fill 2.000000e+00 : !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.binary mul %0, %1 : !mesh.tensor<64x64xf32 on 2x2 split [r, c]>, !mesh.tensor<64x64xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.random_normal %s : i64 -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %4 = mesh.binary add %2, %3 : !mesh.tensor<64x64xf32 on 2x2 split [r, c]>, !mesh.tensor<64x64xf32 on 2x2 split [r, c]> -> !mesh.tensor<64x64xf32 on 2x2 split [r, c]>
// CHECK-NOT:     mesh.redistribute
  func.func @creation(%a: tensor<64x64xf32> {flame.layout = #flame.layout<grid [2, 2]>}, %s: i64) -> tensor<64x64xf32> {
    %f = flame.fill {value = 2.0 : f64} : tensor<64x64xf32>
    %r = flame.random_normal %s : i64 -> tensor<64x64xf32>
    %0 = flame.mul %a, %f : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    %1 = flame.add %0, %r : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xf32>
    func.return %1 : tensor<64x64xf32>
  }
}
