// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p decompose,flame-to-mesh,plan-memory --disable-verify | filecheck %s
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s --check-prefix=VERIFY

// Ops the mesh cannot run are reported together, one line each with the user's line, before
// anything is lowered: element types PEs do not hold (ops and inputs, used or not), integer
// matmuls, and ops with no lowering. With the verifier on (the default), the flame verifier
// refuses the first f64 op, at its line.

// VERIFY:     net.py:3:0: error: 'flame.add' op operand 0 tensor<4x4xf64> holds f64, which PyFlame does not run (use f32)
// VERIFY-NOT: Traceback
// VERIFY:     exit status: 1

// CHECK:      unsupported.mlir: error: PyFlame cannot lower 5 part(s) of this program:
// CHECK-NEXT:   net.py:3: 'flame.add' on tensor<4x4xf64>: this element type does not run on the mesh
// CHECK-NEXT:   net.py:4: 'flame.relu' on tensor<4x4xf64>: this element type does not run on the mesh
// CHECK-NEXT:   net.py:5: 'flame.matmul' on tensor<4x4xi32>: this element type does not run on the mesh
// CHECK-NEXT:   net.py:6: 'arith.constant' has no lowering to the mesh
// CHECK-NEXT:   net.py:1: input tensor<4x4xf64>: this element type does not run on the mesh
// CHECK-NOT:  Traceback
// CHECK-NOT:  mesh.
// CHECK:      exit status: 1
func.func @main(%a: tensor<4x4xf64> loc("net.py":1:0), %b: tensor<4x4xi32>) -> tensor<4x4xf64> {
  %0 = flame.add %a, %a : (tensor<4x4xf64>, tensor<4x4xf64>) -> tensor<4x4xf64> loc("net.py":3:0)
  %1 = flame.relu %0 : tensor<4x4xf64> -> tensor<4x4xf64> loc("net.py":4:0)
  %2 = flame.matmul %b, %b : (tensor<4x4xi32>, tensor<4x4xi32>) -> tensor<4x4xi32> loc("net.py":5:0)
  %c = arith.constant 1 : i64 loc("net.py":6:0)
  func.return %1 : tensor<4x4xf64>
}
