// BUG (dialects/pe.py, BufferType.parse_parameters): the "one-dimensional" error is raised after
// the `>` has been consumed, so it points past the type (here: at the start of the next line)
// instead of at the bad shape.
// RUN: not pyflame-opt %s 2>&1 | filecheck %s

// CHECK: invalid-buf-location.mlir:[[# @LINE + 2]]:{{[0-9]+}}: error: a pe buffer is one-dimensional
// CHECK-NOT: Traceback
%0 = "test.op"() : () -> !pe.buf<4x4xf32>
"test.op"() : () -> ()
