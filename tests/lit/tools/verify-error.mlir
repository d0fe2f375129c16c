// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s | filecheck %s
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s --print-debuginfo -p decompose,flame-to-mesh,plan-memory | filecheck %s

// A verifier error names the op's line in the input (it has no loc(...) of its own) and shows
// the op in generic form; it is reported before any pass runs.

// CHECK:      verify-error.mlir:[[# @LINE + 6]]:3: error: 'flame.relu' op result shape [5] should be [4] for 'flame.relu'
// CHECK-NEXT: verify-error.mlir:[[# @LINE + 5]]:3: note: see current operation: %0 = "flame.relu"(%a) : (tensor<4xf32>) -> tensor<5xf32>
// CHECK-NOT:  Traceback
// CHECK-NOT:  mesh.
// CHECK:      exit status: 1
func.func @f(%a: tensor<4xf32>) -> tensor<5xf32> {
  %0 = flame.relu %a : tensor<4xf32> -> tensor<5xf32>
  func.return %0 : tensor<5xf32>
}
