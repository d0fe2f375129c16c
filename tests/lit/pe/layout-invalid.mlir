// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Errors of the #pe.layout attribute (parsing and verification), one case per chunk.

// CHECK: split has 1 entries for a rank-2 tensor
"test.op"() {layout = #pe.layout<4x4xf32 on 2x2 split [r]>} : () -> ()

// -----

// CHECK: split ['r', 'r'] uses a mesh axis twice
"test.op"() {layout = #pe.layout<4x4xf32 on 2x2 split [r, r]>} : () -> ()

// -----

// CHECK: expected a grid ROWSxCOLS
"test.op"() {layout = #pe.layout<4x4xf32 on 2x2x2 split [r, c]>} : () -> ()

// -----

// CHECK: tile layouts have static shapes (no '?')
"test.op"() {layout = #pe.layout<?x4xf32 on 2x2 split [r, c]>} : () -> ()

// -----

// CHECK: tile layouts hold f32, f16, bf16, i32, i1, not f64
"test.op"() {layout = #pe.layout<4x4xf64 on 2x2 split [r, c]>} : () -> ()
