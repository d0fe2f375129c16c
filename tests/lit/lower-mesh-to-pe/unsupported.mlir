// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// Ops that are not mesh ops (here: flame ops that flame-to-mesh should have lowered first) are
// listed together, sorted, each name once.

// CHECK:      unsupported.mlir: error: ops with no pe lowering: flame.matmul, flame.relu
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
func.func @main(%a: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %0 = flame.relu %a : tensor<4x4xf32> -> tensor<4x4xf32>
  %1 = flame.matmul %0, %0 : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %2 = flame.relu %1 : tensor<4x4xf32> -> tensor<4x4xf32>
  func.return %2 : tensor<4x4xf32>
}
