// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// mesh.gather_rows (one partial per part of the table's row split) and mesh.scatter_add_rows
// survive a print/parse round trip.

// CHECK-LABEL: func.func @indexed
// CHECK-NEXT:    %0 = mesh.gather_rows %w, %i : (!mesh.tensor<10x4xf32 on 2x2 split [r, c]>, !mesh.tensor<3xi32 on 2x2 split [_]>) -> !mesh.tensor<2x3x4xf32 on 2x2 split [r, _, c]>
// CHECK-NEXT:    %1 = mesh.scatter_add_rows %i, %g : (!mesh.tensor<3xi32 on 2x2 split [_]>, !mesh.tensor<3x4xf32 on 2x2 split [_, c]>) -> !mesh.tensor<10x4xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.gather_rows %v, %j : (!mesh.tensor<10x4xi32 on 4x1 split [rc, _]>, !mesh.tensor<3xi32 on 4x1 split [_]>) -> !mesh.tensor<4x3x4xi32 on 4x1 split [rc, _, _]>
func.func @indexed(%w: !mesh.tensor<10x4xf32 on 2x2 split [r, c]>, %i: !mesh.tensor<3xi32 on 2x2 split [_]>, %g: !mesh.tensor<3x4xf32 on 2x2 split [_, c]>, %v: !mesh.tensor<10x4xi32 on 4x1 split [rc, _]>, %j: !mesh.tensor<3xi32 on 4x1 split [_]>) {
  %0 = mesh.gather_rows %w, %i : (!mesh.tensor<10x4xf32 on 2x2 split [r, c]>, !mesh.tensor<3xi32 on 2x2 split [_]>) -> !mesh.tensor<2x3x4xf32 on 2x2 split [r, _, c]>
  %1 = mesh.scatter_add_rows %i, %g : (!mesh.tensor<3xi32 on 2x2 split [_]>, !mesh.tensor<3x4xf32 on 2x2 split [_, c]>) -> !mesh.tensor<10x4xf32 on 2x2 split [r, c]>
  %2 = mesh.gather_rows %v, %j : (!mesh.tensor<10x4xi32 on 4x1 split [rc, _]>, !mesh.tensor<3xi32 on 4x1 split [_]>) -> !mesh.tensor<4x3x4xi32 on 4x1 split [rc, _, _]>
  func.return
}
