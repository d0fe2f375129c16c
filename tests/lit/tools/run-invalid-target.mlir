// RUN: python %S/../Inputs/each-chunk.py %s pyflame-run | filecheck %s

// pyflame-run verifies the module as pyflame-opt does, `pf.target` included: a located error,
// never an assertion or a silent fallback to WSE2.

// CHECK-LABEL: chunk 1
// CHECK:       run-invalid-target.mlir:[[# @LINE + 3]]:51: error: 'wse9' names no preset target (presets: WSE2, WSE3, SMALL); a custom target gives its figures too
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = #pf.target<"wse9">} {
  func.func @main(%x0 : tensor<4xf32>) -> tensor<4xf32> {
    func.return %x0 : tensor<4xf32>
  }
}

// -----

// CHECK-LABEL: chunk 2
// CHECK:       run-invalid-target.mlir:[[# @LINE + 3]]:1: error: 'builtin.module' op 'pf.target' must be a #pf.target<...> naming a preset {{.*}}; got 5 : i64
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = 5 : i64} {
  func.func @main(%x0 : tensor<4xf32>) -> tensor<4xf32> {
    func.return %x0 : tensor<4xf32>
  }
}
