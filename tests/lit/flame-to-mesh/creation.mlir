// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// flame.iota and flame.random_uniform are lazy leaves like flame.fill: placed at their first
// use, in the layout that use wants (or their own hint), as mesh.iota / mesh.random_uniform.

builtin.module attributes {pf.target = #pf.target<"small">} {

// The iota takes the layout of the input it is added to: no redistribution.
// CHECK-LABEL: func.func @arange_next_to_input
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<12xf32> -> !mesh.tensor<12xf32 on 1x4 split [c]>
// CHECK-NEXT:    %1 = mesh.iota dim 0 start 0.000000e+00 step 5.000000e-01 : !mesh.tensor<12xf32 on 1x4 split [c]>
// CHECK-NEXT:    %2 = mesh.binary add %0, %1
// CHECK-NOT:     mesh.redistribute
  func.func @arange_next_to_input(%a: tensor<12xf32> {flame.layout = #flame.layout<col_partition [4]>}) -> tensor<12xf32> {
    %0 = flame.iota {dim = 0 : i64, start = 0.0 : f64, step = 0.5 : f64} : tensor<12xf32>
    %1 = flame.add %a, %0 : (tensor<12xf32>, tensor<12xf32>) -> tensor<12xf32>
    func.return %1 : tensor<12xf32>
  }

// eye: two iotas compared, converted; all in the hinted layout.
// CHECK-LABEL: func.func @eye
// CHECK-NEXT:    %0 = mesh.iota dim 0 start 0.000000e+00 step 1.000000e+00 : !mesh.tensor<5x5xi32 on 2x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.iota dim 1 start 0.000000e+00 step 1.000000e+00 : !mesh.tensor<5x5xi32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.binary eq %0, %1 : !mesh.tensor<5x5xi32 on 2x2 split [r, c]>, !mesh.tensor<5x5xi32 on 2x2 split [r, c]> -> !mesh.tensor<5x5xi1 on 2x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.convert %2 : !mesh.tensor<5x5xi1 on 2x2 split [r, c]> -> !mesh.tensor<5x5xf32 on 2x2 split [r, c]>
  func.func @eye() -> tensor<5x5xf32> {
    %0 = flame.iota {dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64, layout = #flame.layout<grid [2, 2]>} : tensor<5x5xi32>
    %1 = flame.iota {dim = 1 : i64, start = 0.0 : f64, step = 1.0 : f64, layout = #flame.layout<grid [2, 2]>} : tensor<5x5xi32>
    %2 = flame.eq %0, %1 {layout = #flame.layout<grid [2, 2]>} : (tensor<5x5xi32>, tensor<5x5xi32>) -> tensor<5x5xi1>
    %3 = flame.convert %2 {layout = #flame.layout<grid [2, 2]>} : tensor<5x5xi1> -> tensor<5x5xf32>
    func.return %3 : tensor<5x5xf32>
  }

// The seed stays an argument of @main; a hint places the draw.
// CHECK-LABEL: func.func @hinted(%seed: i64)
// CHECK-NEXT:    %0 = mesh.random_uniform %seed minval 0.000000e+00 maxval 1.000000e+01 : i64 -> !mesh.tensor<6x6xi32 on 3x3 split [r, c]>
// CHECK-NEXT:    %1 = mesh.gather %0 : !mesh.tensor<6x6xi32 on 3x3 split [r, c]> -> tensor<6x6xi32>
  func.func @hinted(%seed: i64) -> tensor<6x6xi32> {
    %r = flame.random_uniform %seed {minval = 0.0 : f64, maxval = 10.0 : f64, layout = #flame.layout<grid [3, 3]>} : i64 -> tensor<6x6xi32>
    func.return %r : tensor<6x6xi32>
  }

// A bool result does not shrink the default placement of its f32 operand: 80x80 i1 (6.25 KiB)
// would fit one PE, the f32 uniforms (25 KiB) would not; the default is sized by the widest.
// CHECK-LABEL: func.func @keep_mask
// CHECK-NEXT:    %0 = mesh.random_uniform %seed {{.*}} -> !mesh.tensor<80x80xf32 on 4x4 split [r, c]>
// CHECK:         mesh.binary lt %0, %{{.*}} : !mesh.tensor<80x80xf32 on 4x4 split [r, c]>, {{.*}} -> !mesh.tensor<80x80xi1 on 4x4 split [r, c]>
  func.func @keep_mask(%seed: i64) -> tensor<80x80xi1> {
    %u = flame.random_uniform %seed {minval = 0.0 : f64, maxval = 1.0 : f64} : i64 -> tensor<80x80xf32>
    %p = flame.fill {value = 0.5 : f64} : tensor<f32>
    %m = flame.lt %u, %p : (tensor<80x80xf32>, tensor<f32>) -> tensor<80x80xi1>
    func.return %m : tensor<80x80xi1>
  }

// A causal mask: one iota (CSE merged the two) is the column index as a row vector and the row
// index as a column vector. Each use gets its own mesh.iota in the layout it wants, not a
// redistribution of the first (an exchange whose phases may switch routes).
// CHECK-LABEL: func.func @causal_mask
// CHECK:         %[[COLS:.*]] = mesh.iota dim 0 {{.*}} : !mesh.tensor<8xi32 on 2x2 split [c]>
// CHECK:         mesh.reshape %[[COLS]] : !mesh.tensor<8xi32 on 2x2 split [c]> -> !mesh.tensor<1x8xi32 on 2x2 split [_, c]>
// CHECK:         %[[ROWS:.*]] = mesh.iota dim 0 {{.*}} : !mesh.tensor<8xi32 on 2x2 split [r]>
// CHECK:         mesh.reshape %[[ROWS]] : !mesh.tensor<8xi32 on 2x2 split [r]> -> !mesh.tensor<8x1xi32 on 2x2 split [r, _]>
// CHECK-NOT:     mesh.redistribute
// CHECK:         mesh.binary le
  func.func @causal_mask() -> tensor<8x8xi1> {
    %i = flame.iota {dim = 0 : i64, start = 0.0 : f64, step = 1.0 : f64} : tensor<8xi32>
    %row = flame.reshape %i : tensor<8xi32> -> tensor<1x8xi32>
    %cols = flame.broadcast_to %row {layout = #flame.layout<grid [2, 2]>} : tensor<1x8xi32> -> tensor<8x8xi32>
    %col = flame.reshape %i : tensor<8xi32> -> tensor<8x1xi32>
    %rows = flame.broadcast_to %col {layout = #flame.layout<grid [2, 2]>} : tensor<8x1xi32> -> tensor<8x8xi32>
    %m = flame.le %cols, %rows {layout = #flame.layout<grid [2, 2]>} : (tensor<8x8xi32>, tensor<8x8xi32>) -> tensor<8x8xi1>
    func.return %m : tensor<8x8xi1>
  }
}
