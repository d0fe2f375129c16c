// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// Every mesh op, and the !mesh.tensor type with each kind of split, survives a print/parse
// round trip (custom and generic forms) with its attributes.

// CHECK-LABEL: func.func @types
// CHECK-NEXT:    "test.op"() : () -> !mesh.tensor<f32 on 1x1 split []>
// CHECK-NEXT:    "test.op"() : () -> !mesh.tensor<64xf32 on 4x4 split [rc]>
// CHECK-NEXT:    "test.op"() : () -> !mesh.tensor<6x4x2xf16 on 2x3 split [_, c, r]>
// CHECK-NEXT:    "test.op"() : () -> !mesh.tensor<5x7xf32 on 1x1 split [_, _]>
func.func @types() {
  %0 = "test.op"() : () -> !mesh.tensor<f32 on 1x1 split []>
  %1 = "test.op"() : () -> !mesh.tensor<64xf32 on 4x4 split [rc]>
  %2 = "test.op"() : () -> !mesh.tensor<6x4x2xf16 on 2x3 split [_, c, r]>
  %3 = "test.op"() : () -> !mesh.tensor<5x7xf32 on 1x1 split [_, _]>
  func.return
}

// CHECK-LABEL: func.func @host_io_and_creation(%a: tensor<64x48xf32>, %s: i64)
// CHECK-NEXT:    %a1 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %f = mesh.fill 1.000000e+00 : !mesh.tensor<48xf32 on 1x1 split [_]>
// CHECK-NEXT:    %n = mesh.random_normal %s : i64 -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %o = mesh.gather %a1 : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> tensor<64x48xf32>
func.func @host_io_and_creation(%a: tensor<64x48xf32>, %s: i64) -> tensor<64x48xf32> {
  %a1 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
  %f = mesh.fill 1.0 : !mesh.tensor<48xf32 on 1x1 split [_]>
  %n = mesh.random_normal %s : i64 -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
  %o = mesh.gather %a1 : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> tensor<64x48xf32>
  func.return %o : tensor<64x48xf32>
}

// CHECK-LABEL: func.func @local(%x: !mesh.tensor<48xf32 on 4x4 split [c]>, %y: !mesh.tensor<48xf32 on 4x4 split [c]>)
// CHECK-NEXT:    %u = mesh.unary scale %x by 5.000000e-01 : !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %v = mesh.unary relu %u : !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %w = mesh.unary neg %v : !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %b = mesh.binary add %w, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %c = mesh.binary sub %b, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %d = mesh.binary mul %c, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %e = mesh.binary div %d, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %m = mesh.mask_pad %e value -1.000000e+00 : !mesh.tensor<48xf32 on 4x4 split [c]>
func.func @local(%x: !mesh.tensor<48xf32 on 4x4 split [c]>, %y: !mesh.tensor<48xf32 on 4x4 split [c]>) -> !mesh.tensor<48xf32 on 4x4 split [c]> {
  %u = mesh.unary scale %x by 0.5 : !mesh.tensor<48xf32 on 4x4 split [c]>
  %v = mesh.unary relu %u : !mesh.tensor<48xf32 on 4x4 split [c]>
  %w = mesh.unary neg %v : !mesh.tensor<48xf32 on 4x4 split [c]>
  %b = mesh.binary add %w, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
  %c = mesh.binary sub %b, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
  %d = mesh.binary mul %c, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
  %e = mesh.binary div %d, %y : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<48xf32 on 4x4 split [c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
  %m = mesh.mask_pad %e value -1.0 : !mesh.tensor<48xf32 on 4x4 split [c]>
  func.return %m : !mesh.tensor<48xf32 on 4x4 split [c]>
}

// CHECK-LABEL: func.func @reductions(%a: !mesh.tensor<64x48xf32 on 4x4 split [r, c]>)
// CHECK-NEXT:    %p = mesh.local_reduce sum %a dims [0] : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %q = mesh.allreduce sum %p dims [0] : !mesh.tensor<4x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x48xf32 on 4x4 split [_, c]>
// CHECK-NEXT:    %r = mesh.reshape %q : !mesh.tensor<1x48xf32 on 4x4 split [_, c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
// CHECK-NEXT:    %t = mesh.local_reduce sum %a dims [0, 1] : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %s = mesh.allreduce sum %t dims [0, 1] : !mesh.tensor<4x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x1xf32 on 4x4 split [_, _]>
func.func @reductions(%a: !mesh.tensor<64x48xf32 on 4x4 split [r, c]>) -> (!mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<1x1xf32 on 4x4 split [_, _]>) {
  %p = mesh.local_reduce sum %a dims [0] : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x48xf32 on 4x4 split [r, c]>
  %q = mesh.allreduce sum %p dims [0] : !mesh.tensor<4x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x48xf32 on 4x4 split [_, c]>
  %r = mesh.reshape %q : !mesh.tensor<1x48xf32 on 4x4 split [_, c]> -> !mesh.tensor<48xf32 on 4x4 split [c]>
  %t = mesh.local_reduce sum %a dims [0, 1] : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x4xf32 on 4x4 split [r, c]>
  %s = mesh.allreduce sum %t dims [0, 1] : !mesh.tensor<4x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x1xf32 on 4x4 split [_, _]>
  func.return %r, %s : !mesh.tensor<48xf32 on 4x4 split [c]>, !mesh.tensor<1x1xf32 on 4x4 split [_, _]>
}

// CHECK-LABEL: func.func @allreduce_group(%p: !mesh.tensor<4x48xf32 on 4x4 split [r, c]>, %v: !mesh.tensor<4xf32 on 4x4 split [r]>)
// CHECK-NEXT:    %s, %t = mesh.allreduce_group sum %p, %v dims [array<i64: 0>, array<i64: 0>] algorithm tree : (!mesh.tensor<4x48xf32 on 4x4 split [r, c]>, !mesh.tensor<4xf32 on 4x4 split [r]>) -> (!mesh.tensor<1x48xf32 on 4x4 split [_, c]>, !mesh.tensor<1xf32 on 4x4 split [_]>)
func.func @allreduce_group(%p: !mesh.tensor<4x48xf32 on 4x4 split [r, c]>, %v: !mesh.tensor<4xf32 on 4x4 split [r]>) -> (!mesh.tensor<1x48xf32 on 4x4 split [_, c]>, !mesh.tensor<1xf32 on 4x4 split [_]>) {
  %s, %t = mesh.allreduce_group sum %p, %v dims [array<i64: 0>, array<i64: 0>] algorithm tree : (!mesh.tensor<4x48xf32 on 4x4 split [r, c]>, !mesh.tensor<4xf32 on 4x4 split [r]>) -> (!mesh.tensor<1x48xf32 on 4x4 split [_, c]>, !mesh.tensor<1xf32 on 4x4 split [_]>)
  func.return %s, %t : !mesh.tensor<1x48xf32 on 4x4 split [_, c]>, !mesh.tensor<1xf32 on 4x4 split [_]>
}

// A ktree group keeps its members' trees (made for B = 1), not the packed buffer's.
// CHECK-LABEL: func.func @allreduce_group_plans
// CHECK-NEXT:    %s, %t = mesh.allreduce_group sum %v, %w dims [array<i64: 0>, array<i64: 0>] algorithm ktree plans for 1 : (!mesh.tensor<4xf32 on 4x4 split [r]>, !mesh.tensor<4xf32 on 4x4 split [r]>) -> (!mesh.tensor<1xf32 on 4x4 split [_]>, !mesh.tensor<1xf32 on 4x4 split [_]>)
func.func @allreduce_group_plans(%v: !mesh.tensor<4xf32 on 4x4 split [r]>, %w: !mesh.tensor<4xf32 on 4x4 split [r]>) -> (!mesh.tensor<1xf32 on 4x4 split [_]>, !mesh.tensor<1xf32 on 4x4 split [_]>) {
  %s, %t = mesh.allreduce_group sum %v, %w dims [array<i64: 0>, array<i64: 0>] algorithm ktree plans for 1 : (!mesh.tensor<4xf32 on 4x4 split [r]>, !mesh.tensor<4xf32 on 4x4 split [r]>) -> (!mesh.tensor<1xf32 on 4x4 split [_]>, !mesh.tensor<1xf32 on 4x4 split [_]>)
  func.return %s, %t : !mesh.tensor<1xf32 on 4x4 split [_]>, !mesh.tensor<1xf32 on 4x4 split [_]>
}

// CHECK-LABEL: func.func @movement(%a: !mesh.tensor<64x48xf32 on 4x4 split [r, c]>, %b: !mesh.tensor<48x32xf32 on 4x4 split [r, c]>)
// CHECK-NEXT:    %t = mesh.transpose %a perm [1, 0] : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<48x64xf32 on 4x4 split [c, r]>
// CHECK-NEXT:    %u = mesh.redistribute %t : !mesh.tensor<48x64xf32 on 4x4 split [c, r]> -> !mesh.tensor<48x64xf32 on 2x8 split [r, c]>
// CHECK-NEXT:    %m = mesh.matmul summa %a, %b : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %f = mesh.reshape %u : !mesh.tensor<48x64xf32 on 2x8 split [r, c]> -> !mesh.tensor<48x1x64xf32 on 2x8 split [r, _, c]>
func.func @movement(%a: !mesh.tensor<64x48xf32 on 4x4 split [r, c]>, %b: !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> (!mesh.tensor<48x1x64xf32 on 2x8 split [r, _, c]>, !mesh.tensor<64x32xf32 on 4x4 split [r, c]>) {
  %t = mesh.transpose %a perm [1, 0] : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<48x64xf32 on 4x4 split [c, r]>
  %u = mesh.redistribute %t : !mesh.tensor<48x64xf32 on 4x4 split [c, r]> -> !mesh.tensor<48x64xf32 on 2x8 split [r, c]>
  %m = mesh.matmul summa %a, %b : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
  %f = mesh.reshape %u : !mesh.tensor<48x64xf32 on 2x8 split [r, c]> -> !mesh.tensor<48x1x64xf32 on 2x8 split [r, _, c]>
  func.return %f, %m : !mesh.tensor<48x1x64xf32 on 2x8 split [r, _, c]>, !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
}

// A^T B and A B^T read the stored operand in place (the flags print before the operands).
// CHECK-LABEL: func.func @transposed_products
// CHECK-NEXT:    %p = mesh.matmul summa transpose_a %a, %b : (!mesh.tensor<48x64xf32 on 4x4 split [r, c]>, !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %q = mesh.matmul summa transpose_a transpose_b %a, %c : (!mesh.tensor<48x64xf32 on 4x4 split [r, c]>, !mesh.tensor<32x48xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
func.func @transposed_products(%a: !mesh.tensor<48x64xf32 on 4x4 split [r, c]>, %b: !mesh.tensor<48x32xf32 on 4x4 split [r, c]>, %c: !mesh.tensor<32x48xf32 on 4x4 split [r, c]>) -> (!mesh.tensor<64x32xf32 on 4x4 split [r, c]>, !mesh.tensor<64x32xf32 on 4x4 split [r, c]>) {
  %p = mesh.matmul summa transpose_a %a, %b : (!mesh.tensor<48x64xf32 on 4x4 split [r, c]>, !mesh.tensor<48x32xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
  %q = mesh.matmul summa transpose_a transpose_b %a, %c : (!mesh.tensor<48x64xf32 on 4x4 split [r, c]>, !mesh.tensor<32x48xf32 on 4x4 split [r, c]>) -> !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
  func.return %p, %q : !mesh.tensor<64x32xf32 on 4x4 split [r, c]>, !mesh.tensor<64x32xf32 on 4x4 split [r, c]>
}
