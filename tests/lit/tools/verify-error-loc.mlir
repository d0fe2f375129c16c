// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s | filecheck %s

// An op with a location of its own (the user's Python line) is reported there.

// CHECK:      model.py:12:4: error: 'flame.matmul' op matmul: shapes [2, 3] and [4, 2] cannot be multiplied (3 != 4)
// CHECK-NEXT: model.py:12:4: note: see current operation:
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
func.func @f(%a: tensor<2x3xf32>, %b: tensor<4x2xf32>) -> tensor<2x2xf32> {
  %0 = flame.matmul %a, %b : (tensor<2x3xf32>, tensor<4x2xf32>) -> tensor<2x2xf32> loc("model.py":12:4)
  func.return %0 : tensor<2x2xf32>
}
