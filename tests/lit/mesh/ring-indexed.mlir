// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// mesh.ring_gather_rows (index and rows split over the PEs) and mesh.ring_scatter_add_rows (one
// partial table per copy of the table) survive a print/parse round trip.

// CHECK-LABEL: func.func @ring
// CHECK-NEXT:    %0 = mesh.ring_gather_rows %w, %i : (!mesh.tensor<100x3xf32 on 4x2 split [r, _]>, !mesh.tensor<37xi32 on 4x2 split [rc]>) -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>
// CHECK-NEXT:    %1 = mesh.ring_scatter_add_rows %i, %0 : (!mesh.tensor<37xi32 on 4x2 split [rc]>, !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>) -> !mesh.tensor<2x100x3xf32 on 4x2 split [c, r, _]>
// CHECK-NEXT:    %2 = mesh.ring_gather_rows %v, %j : (!mesh.tensor<100x8xf32 on 4x2 split [r, c]>, !mesh.tensor<37xi32 on 4x2 split [r]>) -> !mesh.tensor<37x8xf32 on 4x2 split [r, c]>
func.func @ring(%w: !mesh.tensor<100x3xf32 on 4x2 split [r, _]>, %i: !mesh.tensor<37xi32 on 4x2 split [rc]>, %v: !mesh.tensor<100x8xf32 on 4x2 split [r, c]>, %j: !mesh.tensor<37xi32 on 4x2 split [r]>) {
  %0 = mesh.ring_gather_rows %w, %i : (!mesh.tensor<100x3xf32 on 4x2 split [r, _]>, !mesh.tensor<37xi32 on 4x2 split [rc]>) -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>
  %1 = mesh.ring_scatter_add_rows %i, %0 : (!mesh.tensor<37xi32 on 4x2 split [rc]>, !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>) -> !mesh.tensor<2x100x3xf32 on 4x2 split [c, r, _]>
  %2 = mesh.ring_gather_rows %v, %j : (!mesh.tensor<100x8xf32 on 4x2 split [r, c]>, !mesh.tensor<37xi32 on 4x2 split [r]>) -> !mesh.tensor<37x8xf32 on 4x2 split [r, c]>
  func.return
}
