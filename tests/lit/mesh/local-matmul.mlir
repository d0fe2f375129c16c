// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// mesh.local_matmul survives a print/parse round trip: one partial product per part of the
// contraction dim, dim 0 of the result split like K (one partial when K is not split). Batch
// dims (whole on every PE) come after it; a side without them is shared by every entry. A
// transposed operand (`transpose_b`: W [n, k] of x @ W.T) is read with its last two dims
// swapped.

// CHECK-LABEL: func.func @local_matmul
// CHECK-NEXT:    %0 = mesh.local_matmul %a, %x : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>
// CHECK-NEXT:    %1 = mesh.local_matmul %v, %w : (!mesh.tensor<2x48xf16 on 2x3 split [_, r]>, !mesh.tensor<48x40xf16 on 2x3 split [r, c]>) -> !mesh.tensor<2x2x40xf16 on 2x3 split [r, _, c]>
// CHECK-NEXT:    %2 = mesh.local_matmul %b, %y : (!mesh.tensor<64x48xf32 on 4x1 split [r, _]>, !mesh.tensor<48x1xf32 on 4x1 split [_, _]>) -> !mesh.tensor<1x64x1xf32 on 4x1 split [_, r, _]>
// CHECK-NEXT:    %3 = mesh.local_matmul %q, %k : (!mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>, !mesh.tensor<2x3x16x37xf32 on 4x4 split [_, _, r, c]>) -> !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [r, _, _, _, c]>
// CHECK-NEXT:    %4 = mesh.local_matmul %q, %u : (!mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>, !mesh.tensor<16x37xf32 on 4x4 split [r, c]>) -> !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [r, _, _, _, c]>
// CHECK-NEXT:    %5 = mesh.local_matmul transpose_b %v, %t : (!mesh.tensor<2x48xf16 on 2x3 split [_, r]>, !mesh.tensor<40x48xf16 on 2x3 split [c, r]>) -> !mesh.tensor<2x2x40xf16 on 2x3 split [r, _, c]>
func.func @local_matmul(%a: !mesh.tensor<64x48xf32 on 4x4 split [r, c]>, %x: !mesh.tensor<48x1xf32 on 4x4 split [c, _]>, %v: !mesh.tensor<2x48xf16 on 2x3 split [_, r]>, %w: !mesh.tensor<48x40xf16 on 2x3 split [r, c]>, %b: !mesh.tensor<64x48xf32 on 4x1 split [r, _]>, %y: !mesh.tensor<48x1xf32 on 4x1 split [_, _]>, %q: !mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>, %k: !mesh.tensor<2x3x16x37xf32 on 4x4 split [_, _, r, c]>, %u: !mesh.tensor<16x37xf32 on 4x4 split [r, c]>, %t: !mesh.tensor<40x48xf16 on 2x3 split [c, r]>) {
  %0 = mesh.local_matmul %a, %x : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>
  %1 = mesh.local_matmul %v, %w : (!mesh.tensor<2x48xf16 on 2x3 split [_, r]>, !mesh.tensor<48x40xf16 on 2x3 split [r, c]>) -> !mesh.tensor<2x2x40xf16 on 2x3 split [r, _, c]>
  %2 = mesh.local_matmul %b, %y : (!mesh.tensor<64x48xf32 on 4x1 split [r, _]>, !mesh.tensor<48x1xf32 on 4x1 split [_, _]>) -> !mesh.tensor<1x64x1xf32 on 4x1 split [_, r, _]>
  %3 = mesh.local_matmul %q, %k : (!mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>, !mesh.tensor<2x3x16x37xf32 on 4x4 split [_, _, r, c]>) -> !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [r, _, _, _, c]>
  %4 = mesh.local_matmul %q, %u : (!mesh.tensor<2x3x1x16xf32 on 4x4 split [_, _, _, r]>, !mesh.tensor<16x37xf32 on 4x4 split [r, c]>) -> !mesh.tensor<4x2x3x1x37xf32 on 4x4 split [r, _, _, _, c]>
  %5 = mesh.local_matmul transpose_b %v, %t : (!mesh.tensor<2x48xf16 on 2x3 split [_, r]>, !mesh.tensor<40x48xf16 on 2x3 split [c, r]>) -> !mesh.tensor<2x2x40xf16 on 2x3 split [r, _, c]>
  func.return
}
