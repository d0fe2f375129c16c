// BUG (dialects/mesh.py, Distribution.check): a dynamic dim (`?`) in a !mesh.tensor is accepted
// and prints back as `-9223372036854775808x4xf32`; mesh tensors have static shapes, so the type
// should be rejected.
// RUN: not pyflame-opt %s 2>&1 | filecheck %s

// CHECK: error:
// CHECK-NOT: -9223372036854775808
%0 = "test.op"() : () -> !mesh.tensor<?x4xf32 on 2x2 split [r, c]>
