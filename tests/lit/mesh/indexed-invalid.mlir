// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of mesh.gather_rows and mesh.scatter_add_rows, one case per chunk.

// CHECK: 'mesh.gather_rows' index must be i32 with a copy on every PE of the table's 2x2 grid (no dim split), got !mesh.tensor<4xi32 on 2x2 split [c]>
%w = "test.op"() : () -> !mesh.tensor<10x4xf32 on 2x2 split [r, c]>
%i = "test.op"() : () -> !mesh.tensor<4xi32 on 2x2 split [c]>
%0 = mesh.gather_rows %w, %i : (!mesh.tensor<10x4xf32 on 2x2 split [r, c]>, !mesh.tensor<4xi32 on 2x2 split [c]>) -> !mesh.tensor<2x4x4xf32 on 2x2 split [r, _, c]>

// -----

// CHECK: gather_rows result should be 2x3x4 on 2x2 split [r, _, c], got 3x4 on 2x2 split [_, c]
%w = "test.op"() : () -> !mesh.tensor<10x4xf32 on 2x2 split [r, c]>
%i = "test.op"() : () -> !mesh.tensor<3xi32 on 2x2 split [_]>
%0 = mesh.gather_rows %w, %i : (!mesh.tensor<10x4xf32 on 2x2 split [r, c]>, !mesh.tensor<3xi32 on 2x2 split [_]>) -> !mesh.tensor<3x4xf32 on 2x2 split [_, c]>

// -----

// CHECK: scatter_add_rows source should be
// CHECK-SAME: (the result's columns)
%i = "test.op"() : () -> !mesh.tensor<3xi32 on 2x2 split [_]>
%g = "test.op"() : () -> !mesh.tensor<3x4xf32 on 2x2 split [r, c]>
%0 = mesh.scatter_add_rows %i, %g : (!mesh.tensor<3xi32 on 2x2 split [_]>, !mesh.tensor<3x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<10x4xf32 on 2x2 split [r, c]>
