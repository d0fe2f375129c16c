// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s.does-not-exist | filecheck %s

// CHECK:      pyflame-opt: error: cannot open '{{.*}}missing-file.mlir.does-not-exist': No such file or directory
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
