// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s | filecheck %s

// A parse error names file:line:col and shows the line with a caret, like mlir-opt.

// CHECK:      parse-error.mlir:[[# @LINE + 6]]:19: error: operand expected
// CHECK-NEXT:   %0 = flame.relu : tensor<4xf32> -> tensor<4xf32>
// CHECK-NEXT:                   ^
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
func.func @f(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = flame.relu : tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
