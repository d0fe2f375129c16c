// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// mesh.iota, mesh.random_uniform and batched mesh.matmul (each algorithm) survive a print/parse
// round trip.

// CHECK-LABEL: func.func @creation(%s: i64)
// CHECK-NEXT:    %i = mesh.iota dim 1 start 0.000000e+00 step 2.000000e+00 : !mesh.tensor<5x7xi32 on 2x2 split [r, c]>
// CHECK-NEXT:    %u = mesh.random_uniform %s minval 0.000000e+00 maxval 1.000000e+00 : i64 -> !mesh.tensor<64xf16 on 4x4 split [rc]>
// CHECK-NEXT:    %r = mesh.random_uniform %s minval -5.000000e+00 maxval 5.000000e+00 : i64 -> !mesh.tensor<6x4xi32 on 1x1 split [_, _]>
func.func @creation(%s: i64) {
  %i = mesh.iota dim 1 start 0.0 step 2.0 : !mesh.tensor<5x7xi32 on 2x2 split [r, c]>
  %u = mesh.random_uniform %s minval 0.0 maxval 1.0 : i64 -> !mesh.tensor<64xf16 on 4x4 split [rc]>
  %r = mesh.random_uniform %s minval -5.0 maxval 5.0 : i64 -> !mesh.tensor<6x4xi32 on 1x1 split [_, _]>
  func.return
}

// CHECK-LABEL: func.func @batched_matmul
// CHECK-NEXT:    %c = mesh.matmul summa %a, %b : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<3x6x4xf32 on 2x2 split [_, r, c]>) -> !mesh.tensor<3x8x4xf32 on 2x2 split [_, r, c]>
// CHECK-NEXT:    %d = mesh.matmul summa %a, %w : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<3x8x4xf32 on 2x2 split [_, r, c]>
func.func @batched_matmul(%a: !mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, %b: !mesh.tensor<3x6x4xf32 on 2x2 split [_, r, c]>, %w: !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) {
  %c = mesh.matmul summa %a, %b : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<3x6x4xf32 on 2x2 split [_, r, c]>) -> !mesh.tensor<3x8x4xf32 on 2x2 split [_, r, c]>
  %d = mesh.matmul summa %a, %w : (!mesh.tensor<3x8x6xf32 on 2x2 split [_, r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<3x8x4xf32 on 2x2 split [_, r, c]>
  func.return
}

// CHECK-LABEL: func.func @shift_matmuls
// CHECK-NEXT:    %c = mesh.matmul cannon %a, %b : (!mesh.tensor<5x7xf32 on 3x3 split [r, c]>, !mesh.tensor<7x4xf32 on 3x3 split [r, c]>) -> !mesh.tensor<5x4xf32 on 3x3 split [r, c]>
// CHECK-NEXT:    %d = mesh.matmul meshgemm %a, %b : (!mesh.tensor<5x7xf32 on 3x3 split [r, c]>, !mesh.tensor<7x4xf32 on 3x3 split [r, c]>) -> !mesh.tensor<5x4xf32 on 3x3 split [r, c]>
func.func @shift_matmuls(%a: !mesh.tensor<5x7xf32 on 3x3 split [r, c]>, %b: !mesh.tensor<7x4xf32 on 3x3 split [r, c]>) {
  %c = mesh.matmul cannon %a, %b : (!mesh.tensor<5x7xf32 on 3x3 split [r, c]>, !mesh.tensor<7x4xf32 on 3x3 split [r, c]>) -> !mesh.tensor<5x4xf32 on 3x3 split [r, c]>
  %d = mesh.matmul meshgemm %a, %b : (!mesh.tensor<5x7xf32 on 3x3 split [r, c]>, !mesh.tensor<7x4xf32 on 3x3 split [r, c]>) -> !mesh.tensor<5x4xf32 on 3x3 split [r, c]>
  func.return
}
