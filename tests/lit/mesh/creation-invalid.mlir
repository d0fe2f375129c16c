// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of mesh.iota, mesh.random_uniform and batched mesh.matmul.

// CHECK: iota dim 1 is out of range for a rank-1 result
%0 = mesh.iota dim 1 start 0.0 step 1.0 : !mesh.tensor<8xf32 on 1x2 split [c]>

// -----

// CHECK: random_uniform needs finite bounds with minval < maxval, got [2.0, 1.0)
%s = "test.op"() : () -> i64
%0 = mesh.random_uniform %s minval 2.0 maxval 1.0 : i64 -> !mesh.tensor<8xf32 on 1x2 split [c]>

// -----

// CHECK: random_uniform on i32 needs integer bounds within int32, got [0.0, 2.5)
%s = "test.op"() : () -> i64
%0 = mesh.random_uniform %s minval 0.0 maxval 2.5 : i64 -> !mesh.tensor<8xi32 on 1x2 split [c]>

// -----

// CHECK: batch dims differ: (3,), (2,)
%a = "test.op"() : () -> !mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>
%b = "test.op"() : () -> !mesh.tensor<2x6x4xf32 on 2x2 split [_, r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<2x6x4xf32 on 2x2 split [_, r, c]>) -> !mesh.tensor<3x8x4xf32 on 2x2 split [_, r, c]>

// -----

// A batch dim must stay whole on every PE.
// CHECK: summa's lhs must split its last two dims [r, c] and no other, got 4x8x6 on 2x2 split [r, _, c]
%a = "test.op"() : () -> !mesh.tensor<4x8x6xf32 on 2x2 split [r, _, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<4x8x6xf32 on 2x2 split [r, _, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<4x8x4xf32 on 2x2 split [_, r, c]>

// -----

// CHECK: result shape (8, 4) is wrong
%a = "test.op"() : () -> !mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
