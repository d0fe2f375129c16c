// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of mesh.local_matmul, one case per chunk.

// CHECK: local_matmul: the contraction dim must be split alike, got 'c' and 'r'
%a = "test.op"() : () -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
%x = "test.op"() : () -> !mesh.tensor<48x1xf32 on 4x4 split [r, _]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 4x4 split [r, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>

// -----

// CHECK: local_matmul: operands must share a grid, got (4, 4) and (2, 2)
%a = "test.op"() : () -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
%x = "test.op"() : () -> !mesh.tensor<48x1xf32 on 2x2 split [c, _]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 2x2 split [c, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>

// -----

// CHECK: local_matmul: m, k, n must be split over distinct axes r, c, got ('r', 'c') and ('c', 'r')
%a = "test.op"() : () -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
%x = "test.op"() : () -> !mesh.tensor<48x8xf32 on 4x4 split [c, r]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x8xf32 on 4x4 split [c, r]>) -> !mesh.tensor<4x64x8xf32 on 4x4 split [c, r, _]>

// -----

// CHECK: local_matmul result should be 4x64x1 on 4x4 split [c, r, _], got 64x1 on 4x4 split [r, _]
%a = "test.op"() : () -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
%x = "test.op"() : () -> !mesh.tensor<48x1xf32 on 4x4 split [c, _]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<64x1xf32 on 4x4 split [r, _]>

// -----

// CHECK: local_matmul: batch dims must be unsplit, got ('r', '', 'c') and ('', 'c', '')
%a = "test.op"() : () -> !mesh.tensor<2x64x48xf32 on 4x4 split [r, _, c]>
%x = "test.op"() : () -> !mesh.tensor<2x48x1xf32 on 4x4 split [_, c, _]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<2x64x48xf32 on 4x4 split [r, _, c]>, !mesh.tensor<2x48x1xf32 on 4x4 split [_, c, _]>) -> !mesh.tensor<4x2x64x1xf32 on 4x4 split [c, _, _, _]>

// -----

// CHECK: local_matmul: batch dims differ: (2,), (3,)
%a = "test.op"() : () -> !mesh.tensor<2x64x48xf32 on 4x4 split [_, r, c]>
%x = "test.op"() : () -> !mesh.tensor<3x48x1xf32 on 4x4 split [_, c, _]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<2x64x48xf32 on 4x4 split [_, r, c]>, !mesh.tensor<3x48x1xf32 on 4x4 split [_, c, _]>) -> !mesh.tensor<4x2x64x1xf32 on 4x4 split [c, _, r, _]>

// -----

// CHECK: local_matmul: operands must be at least 2-D
%a = "test.op"() : () -> !mesh.tensor<48xf32 on 4x4 split [c]>
%x = "test.op"() : () -> !mesh.tensor<48x1xf32 on 4x4 split [c, _]>
%p = mesh.local_matmul %a, %x : (!mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>
