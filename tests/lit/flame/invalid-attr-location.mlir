// BUG (the parameter verifiers of #flame.layout, and likewise !mesh.tensor): an error in an
// attribute's parameters is raised as a VerifyException while parsing, and pyflame-opt reports
// it with the file name only (`invalid-attr-location.mlir: error: unknown layout kind ...`), not
// the line and column of the attribute.
// RUN: not pyflame-opt %s 2>&1 | filecheck %s

// CHECK: invalid-attr-location.mlir:[[# @LINE + 3]]:{{[0-9]+}}: error: unknown layout kind 'diagonal'
// CHECK-NOT: Traceback
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.relu %a {layout = #flame.layout<diagonal>} : tensor<4xf32> -> tensor<4xf32>
