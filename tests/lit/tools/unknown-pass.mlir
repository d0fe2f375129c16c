// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p flame-to-mesh,no-such-pass | filecheck %s
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p "flame-to-mesh{bogus=1}" | filecheck %s --check-prefix=OPTION
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p "flame-to-mesh{" | filecheck %s --check-prefix=SYNTAX

// A pipeline naming an unknown pass, an unknown option or malformed text is a one-line
// diagnostic and exit status 1, never a Python traceback.

// CHECK:      pyflame-opt: error: Unrecognized passes: ['no-such-pass']
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1

// OPTION:     pyflame-opt: error: Provided arguments ["bogus"] not found in expected arguments []
// OPTION-NOT: Traceback
// OPTION:     exit status: 1

// SYNTAX:     pyflame-opt: error: Error parsing pass pipeline specification:
// SYNTAX:     Expected argument name here
// SYNTAX-NOT: Traceback
// SYNTAX:     exit status: 1

func.func @f() {
  func.return
}
