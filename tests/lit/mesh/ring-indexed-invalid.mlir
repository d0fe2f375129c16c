// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of mesh.ring_gather_rows and mesh.ring_scatter_add_rows, one case per chunk.

// CHECK: 'mesh.ring_gather_rows' index should be 37 on 4x2 split [rc], got 37 on 4x2 split [_]
%w = "test.op"() : () -> !mesh.tensor<100x3xf32 on 4x2 split [r, _]>
%i = "test.op"() : () -> !mesh.tensor<37xi32 on 4x2 split [_]>
%0 = mesh.ring_gather_rows %w, %i : (!mesh.tensor<100x3xf32 on 4x2 split [r, _]>, !mesh.tensor<37xi32 on 4x2 split [_]>) -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>

// -----

// CHECK: 'mesh.ring_gather_rows' table rows and columns must each be split along one mesh axis or none, got 100x3 on 4x2 split [rc, _]
%w = "test.op"() : () -> !mesh.tensor<100x3xf32 on 4x2 split [rc, _]>
%i = "test.op"() : () -> !mesh.tensor<37xi32 on 4x2 split [rc]>
%0 = mesh.ring_gather_rows %w, %i : (!mesh.tensor<100x3xf32 on 4x2 split [rc, _]>, !mesh.tensor<37xi32 on 4x2 split [rc]>) -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>

// -----

// CHECK: ring_gather_rows result should be 37x3 on 4x2 split [rc, _], got 37x3 on 4x2 split [r, _]
%w = "test.op"() : () -> !mesh.tensor<100x3xf32 on 4x2 split [r, _]>
%i = "test.op"() : () -> !mesh.tensor<37xi32 on 4x2 split [rc]>
%0 = mesh.ring_gather_rows %w, %i : (!mesh.tensor<100x3xf32 on 4x2 split [r, _]>, !mesh.tensor<37xi32 on 4x2 split [rc]>) -> !mesh.tensor<37x3xf32 on 4x2 split [r, _]>

// -----

// CHECK: ring_scatter_add_rows result should be 2x100x3 on 4x2 split [c, r, _], got 1x100x3 on 4x2 split [_, r, _]
%i = "test.op"() : () -> !mesh.tensor<37xi32 on 4x2 split [rc]>
%g = "test.op"() : () -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>
%0 = mesh.ring_scatter_add_rows %i, %g : (!mesh.tensor<37xi32 on 4x2 split [rc]>, !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>) -> !mesh.tensor<1x100x3xf32 on 4x2 split [_, r, _]>

// -----

// CHECK: ring_scatter_add_rows source should be 37x3 on 4x2 split [rc, _], got 37x3 on 4x2 split [_, _]
%i = "test.op"() : () -> !mesh.tensor<37xi32 on 4x2 split [rc]>
%g = "test.op"() : () -> !mesh.tensor<37x3xf32 on 4x2 split [_, _]>
%0 = mesh.ring_scatter_add_rows %i, %g : (!mesh.tensor<37xi32 on 4x2 split [rc]>, !mesh.tensor<37x3xf32 on 4x2 split [_, _]>) -> !mesh.tensor<2x100x3xf32 on 4x2 split [c, r, _]>
