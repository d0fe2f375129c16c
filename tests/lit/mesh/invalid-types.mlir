// RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s

// !mesh.tensor types later stages cannot handle, and ops on tensors with no elements that no
// PE kernel runs, fail verification at their line. Each chunk below runs on its own (see
// Inputs/each-chunk.py).

// CHECK-LABEL: chunk 1
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:{{[0-9]+}}: error: mesh tensors hold f32, f16, bf16, i32, i1, not f64
// CHECK-NOT:   Traceback
// CHECK:       exit status: 1
%0 = "test.op"() : () -> !mesh.tensor<4x4xf64 on 2x2 split [r, c]>

// -----

// CHECK-LABEL: chunk 2
// CHECK:       invalid-types.mlir:[[# @LINE + 2]]:{{[0-9]+}}: error: mesh tensors have static shapes (no '?')
// CHECK:       exit status: 1
%0 = "test.op"() : () -> !mesh.tensor<?x4xf32 on 2x2 split [r, c]>

// -----

// A reduction of no elements (flame-to-mesh folds those into mesh.fill).
// CHECK-LABEL: chunk 3
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:3: error: 'mesh.local_reduce' op 'mesh.local_reduce' does not take zero-size tensors, got !mesh.tensor<0x4xf32 on 2x2 split [r, c]> (flame-to-mesh folds ops on tensors with no elements into mesh.fill)
// CHECK:       exit status: 1
%a = "test.op"() : () -> !mesh.tensor<0x4xf32 on 2x2 split [r, c]>
  %p = mesh.local_reduce sum %a dims [0] : !mesh.tensor<0x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>

// -----

// CHECK-LABEL: chunk 4
// CHECK:       invalid-types.mlir:[[# @LINE + 4]]:3: error: 'mesh.matmul' op 'mesh.matmul' does not take zero-size tensors, got !mesh.tensor<4x0xf32 on 2x2 split [r, c]>
// CHECK:       exit status: 1
%a = "test.op"() : () -> !mesh.tensor<4x0xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<0x4xf32 on 2x2 split [r, c]>
  %m = mesh.matmul summa %a, %b : (!mesh.tensor<4x0xf32 on 2x2 split [r, c]>, !mesh.tensor<0x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// -----

// Tile-wise ops and host I/O take zero-size tensors (an empty program result).
// CHECK-LABEL: chunk 5
// CHECK:       mesh.unary relu %a : !mesh.tensor<0x4xf32 on 2x2 split [r, c]>
// CHECK:       exit status: 0
%a = "test.op"() : () -> !mesh.tensor<0x4xf32 on 2x2 split [r, c]>
%r = mesh.unary relu %a : !mesh.tensor<0x4xf32 on 2x2 split [r, c]>
