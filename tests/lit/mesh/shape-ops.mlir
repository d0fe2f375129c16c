// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// The mesh shape ops survive a print/parse round trip. mesh.broadcast is local (each PE
// expands its tile); slice, concat, pad and relayout move data, so their operands and result
// may live on different grids and splits.

// CHECK-LABEL: func.func @shape_ops
// CHECK-NEXT:    %0 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<3x8x12xf32 on 4x4 split [_, r, c]>
// CHECK-NEXT:    %1 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
// CHECK-NEXT:    %2 = mesh.slice %b start [1, 0] stop [5, 6] step [2, 3] : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x2xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.slice %b start [0, 5] stop [5, 6] step [1, 1] : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<5x1xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %4 = mesh.concat %b, %c dim 0 : (!mesh.tensor<5x6xf32 on 2x2 split [r, c]>, !mesh.tensor<2x6xf32 on 1x1 split [_, _]>) -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %5 = mesh.pad %b low [0, 1] high [2, -1] value 0.000000e+00 : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %6 = mesh.relayout %b : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<30xf32 on 2x2 split [rc]>
func.func @shape_ops(%a: !mesh.tensor<1x12xf32 on 4x4 split [_, c]>, %b: !mesh.tensor<5x6xf32 on 2x2 split [r, c]>, %c: !mesh.tensor<2x6xf32 on 1x1 split [_, _]>) {
  %0 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<3x8x12xf32 on 4x4 split [_, r, c]>
  %1 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
  %2 = mesh.slice %b start [1, 0] stop [5, 6] step [2, 3] : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x2xf32 on 2x2 split [r, c]>
  %3 = mesh.slice %b start [0, 5] stop [5, 6] step [1, 1] : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<5x1xf32 on 1x1 split [_, _]>
  %4 = mesh.concat %b, %c dim 0 : (!mesh.tensor<5x6xf32 on 2x2 split [r, c]>, !mesh.tensor<2x6xf32 on 1x1 split [_, _]>) -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>
  %5 = mesh.pad %b low [0, 1] high [2, -1] value 0.0 : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>
  %6 = mesh.relayout %b : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<30xf32 on 2x2 split [rc]>
  func.return
}
