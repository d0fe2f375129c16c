// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -t csl | filecheck %s --check-prefix=CSL
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -t llvm | filecheck %s --check-prefix=LLVM
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -t mlir | filecheck %s --check-prefix=MLIR

// Only MLIR text is offered as output: xDSL's code generators (csl, llvm, riscv-asm, wgsl, ...)
// do not take PyFlame's dialects (csl printed nothing and exited 0, llvm failed internally), so
// asking for one is a usage error naming the choices, exit status 1.

// CSL:      pyflame-opt: error: argument -t/--target: invalid choice: 'csl' (choose from mlir)
// CSL-NOT:  internal error
// CSL:      exit status: 1

// LLVM:     pyflame-opt: error: argument -t/--target: invalid choice: 'llvm' (choose from mlir)
// LLVM-NOT: internal error
// LLVM:     exit status: 1

// MLIR:     flame.relu %a : tensor<4xf32> -> tensor<4xf32>
// MLIR:     exit status: 0
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = flame.relu %a : tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
