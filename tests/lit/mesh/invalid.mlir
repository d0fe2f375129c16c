// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every mesh verifier error, one case per split-input-file chunk. Each message is checked at
// the start of a line (the verifier's own line, not the annotation under the op).

// === the !mesh.tensor type ===

// CHECK: split has 1 entries for a rank-2 tensor
%0 = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r]>

// -----

// CHECK: split entries must be r, c, rc or _, got ['r', 'x']
%0 = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, x]>

// -----

// CHECK: split ['r', 'r'] uses a mesh axis twice
%0 = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, r]>

// -----

// `rc` uses both mesh axes.
// CHECK: split ['rc', 'c'] uses a mesh axis twice
%0 = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [rc, c]>

// -----

// CHECK: grid (0, 2) must be positive
%0 = "test.op"() : () -> !mesh.tensor<4x4xf32 on 0x2 split [r, c]>

// -----

// CHECK: {{.*}}invalid.mlir:[[# @LINE + 2]]:56
// CHECK: expected a grid ROWSxCOLS
%0 = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2x2 split [r, c]>

// === host I/O ===

// -----

// CHECK: scatter must keep the global shape
%a = "test.op"() : () -> tensor<4x4xf32>
%0 = mesh.scatter %a : tensor<4x4xf32> -> !mesh.tensor<4x8xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.scatter' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> tensor<4x4xf32>
%0 = mesh.scatter %a : tensor<4x4xf32> -> !mesh.tensor<4x4xf16 on 2x2 split [r, c]>

// -----

// CHECK: gather must keep the global shape
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = mesh.gather %a : !mesh.tensor<4x4xf32 on 2x2 split [r, c]> -> tensor<16xf32>

// -----

// CHECK: 'mesh.gather' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = mesh.gather %a : !mesh.tensor<4x4xf32 on 2x2 split [r, c]> -> tensor<4x4xf16>

// === tile-wise ops ===

// -----

// A name outside the closed set is a parse error of the enum attribute (pyflame.core's StrEnums).
// CHECK: Expected `neg`, `abs`, `relu`, `exp`, `log`, `sqrt`, `rsqrt`, `tanh`, `sigmoid`, `gelu`, `silu`, `logical_not`, `sin`, `cos`, `erf`, `floor`, `round`, `sign`, `log1p`, `expm1`, `trunc`, `bitwise_not`, `signbit`, `exp2`, `log2`, `log10`, `tan`, `asin`, `acos`, `atan`, `sinh`, `cosh`, `asinh`, `acosh`, `atanh`, `erfinv`, or `scale`.
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = mesh.unary frobnicate %a : !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'scale' (and only it) takes a scalar
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = mesh.unary scale %a : !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'scale' (and only it) takes a scalar
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = mesh.unary relu %a by 2.0 : !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// -----

// The operand and result types are one constraint variable (the op's own "keep the tensor
// type" check never gets to run).
// CHECK: result 'result' at position 0 does not verify:
// CHECK-NEXT: {{^}}attribute !mesh.tensor<4x4xf32 on 2x2 split [r, c]> expected from variable 'T', but got !mesh.tensor<4x4xf32 on 2x2 split [c, r]>
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = "mesh.unary"(%a) <{fn = #mesh<unary_fn relu>}> : (!mesh.tensor<4x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<4x4xf32 on 2x2 split [c, r]>

// -----

// CHECK: Expected `add`, `sub`, `mul`, `div`, `pow`, `maximum`, `minimum`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `logical_and`, `logical_or`, `floor_divide`, `remainder`, `fmod`, `bitwise_and`, `bitwise_or`, `bitwise_xor`, `bitwise_left_shift`, `bitwise_right_shift`, `atan2`, `hypot`, or `nextafter`.
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%0 = mesh.binary frobnicate %a, %a : !mesh.tensor<4x4xf32 on 2x2 split [r, c]>, !mesh.tensor<4x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.binary' operands must be distributed like the result (4x4 on 2x2 split [r, c]) or be rank-0 on its grid, got 4x4 on 1x1 split [_, _]
%a = "test.op"() : () -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<4x4xf32 on 1x1 split [_, _]>
%0 = "mesh.binary"(%a, %b) <{fn = #mesh<binary_fn add>}> : (!mesh.tensor<4x4xf32 on 2x2 split [r, c]>, !mesh.tensor<4x4xf32 on 1x1 split [_, _]>) -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: result 'result' at position 0 does not verify:
// CHECK-NEXT: {{^}}attribute !mesh.tensor<5x4xf32 on 2x2 split [r, c]> expected from variable 'T', but got !mesh.tensor<4x4xf32 on 2x2 split [r, c]>
%a = "test.op"() : () -> !mesh.tensor<5x4xf32 on 2x2 split [r, c]>
%0 = "mesh.mask_pad"(%a) <{value = 0.0 : f64}> : (!mesh.tensor<5x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<4x4xf32 on 2x2 split [r, c]>

// === reductions ===

// -----

// CHECK: Expected `sum`, `prod`, `max`, or `min`.
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.local_reduce median %a dims [0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: dims [2] out of range
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.local_reduce sum %a dims [2] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// A split dim of p parts leaves p partials, not 1.
// CHECK: local_reduce result should be 2x4 on 2x2 split [r, c], got 1x4 on 2x2 split [r, c]
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.local_reduce sum %a dims [0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.local_reduce' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.local_reduce sum %a dims [0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x4xf16 on 2x2 split [r, c]>

// -----

// CHECK: Expected `sum`, `prod`, `max`, or `min`.
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>
%0 = mesh.allreduce mode %a dims [0] : !mesh.tensor<2x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 2x2 split [_, c]>

// -----

// CHECK: dim 2 out of range
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>
%0 = mesh.allreduce sum %a dims [2] : !mesh.tensor<2x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: allreduce dim 0 must be split
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [_, c]>
%0 = mesh.allreduce sum %a dims [0] : !mesh.tensor<2x4xf32 on 2x2 split [_, c]> -> !mesh.tensor<1x4xf32 on 2x2 split [_, c]>

// -----

// CHECK: allreduce dim 0 must hold one partial per PE
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.allreduce sum %a dims [0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 2x2 split [_, c]>

// -----

// The reduced dim is no longer split: the result is replicated along that mesh axis.
// CHECK: allreduce result should be 1x4 on 2x2 split [_, c], got 1x4 on 2x2 split [r, c]
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>
%0 = mesh.allreduce sum %a dims [0] : !mesh.tensor<2x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 2x2 split [r, c]>

// -----

// A group's members share the reduced mesh axes (one packed buffer, one set of lines).
// CHECK: mesh.allreduce_group inputs must be reduced over the same mesh axes, got ['c', 'r']
%a = "test.op"() : () -> !mesh.tensor<2x2xf32 on 2x2 split [r, c]>
%0, %1 = mesh.allreduce_group sum %a, %a dims [array<i64: 0>, array<i64: 1>] : (!mesh.tensor<2x2xf32 on 2x2 split [r, c]>, !mesh.tensor<2x2xf32 on 2x2 split [r, c]>) -> (!mesh.tensor<1x2xf32 on 2x2 split [_, c]>, !mesh.tensor<2x1xf32 on 2x2 split [r, _]>)

// -----

// The split algorithms halve the packed buffer, not each member.
// CHECK: mesh.allreduce_group cannot use rsag: its halves of the packed buffer are not the inputs' halves
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>
%0, %1 = mesh.allreduce_group sum %a, %a dims [array<i64: 0>, array<i64: 0>] algorithm rsag : (!mesh.tensor<2x4xf32 on 2x2 split [r, c]>, !mesh.tensor<2x4xf32 on 2x2 split [r, c]>) -> (!mesh.tensor<1x4xf32 on 2x2 split [_, c]>, !mesh.tensor<1x4xf32 on 2x2 split [_, c]>)

// -----

// CHECK: mesh.allreduce_group result should be 1x4 on 2x2 split [_, c], got 1x4 on 2x2 split [r, c]
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>
%0, %1 = mesh.allreduce_group sum %a, %a dims [array<i64: 0>, array<i64: 0>] : (!mesh.tensor<2x4xf32 on 2x2 split [r, c]>, !mesh.tensor<2x4xf32 on 2x2 split [r, c]>) -> (!mesh.tensor<1x4xf32 on 2x2 split [_, c]>, !mesh.tensor<1x4xf32 on 2x2 split [r, c]>)

// -----

// CHECK: 'mesh.allreduce' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]>
%0 = mesh.allreduce sum %a dims [0] : !mesh.tensor<2x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x4xf16 on 2x2 split [_, c]>

// === shape ops ===

// -----

// CHECK: reshape !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<32xf32 on 2x2 split [r]> moves data between PEs; redistribute first
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.reshape %a : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<32xf32 on 2x2 split [r]>

// -----

// CHECK: reshape !mesh.tensor<8xf32 on 2x1 split [r]> -> !mesh.tensor<8xf32 on 1x2 split [c]> moves data between PEs; redistribute first
%a = "test.op"() : () -> !mesh.tensor<8xf32 on 2x1 split [r]>
%0 = mesh.reshape %a : !mesh.tensor<8xf32 on 2x1 split [r]> -> !mesh.tensor<8xf32 on 1x2 split [c]>

// -----

// CHECK: 'mesh.reshape' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<8xf32 on 2x1 split [r]>
%0 = mesh.reshape %a : !mesh.tensor<8xf32 on 2x1 split [r]> -> !mesh.tensor<8x1xf16 on 2x1 split [r, _]>

// -----

// CHECK: bad permutation [0, 0]
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.transpose %a perm [0, 0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// The split permutes with the dims.
// CHECK: transpose result should be 4x8 on 2x2 split [c, r], got 4x8 on 2x2 split [r, c]
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.transpose %a perm [1, 0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<4x8xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.transpose' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.transpose %a perm [1, 0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<4x8xf16 on 2x2 split [c, r]>

// === matmul ===

// -----

// CHECK: Expected `summa`, `cannon`, `meshgemm`, or `summa25d`.
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul strassen %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: summa needs one square grid, got (2, 4), (2, 4), (2, 4)
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x4 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x4 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x4 split [r, c]>, !mesh.tensor<6x4xf32 on 2x4 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x4 split [r, c]>

// -----

// CHECK: meshgemm needs one square grid, got (2, 4), (2, 4), (2, 4)
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x4 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x4 split [r, c]>
%0 = mesh.matmul meshgemm %a, %b : (!mesh.tensor<8x6xf32 on 2x4 split [r, c]>, !mesh.tensor<6x4xf32 on 2x4 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x4 split [r, c]>

// -----

// CHECK: cannon's rhs must split its last two dims [r, c] and no other, got 6x4 on 2x2 split [c, r]
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [c, r]>
%0 = mesh.matmul cannon %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [c, r]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: summa needs one square grid, got (2, 2), (4, 4), (2, 2)
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 4x4 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 4x4 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: cannon cannot consume a transposed operand: materialise the transpose (mesh.transpose and mesh.redistribute) or use summa
%a = "test.op"() : () -> !mesh.tensor<6x8xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul cannon transpose_a %a, %b : (!mesh.tensor<6x8xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: contraction sizes differ: (8, 6), (6, 4)
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa transpose_a %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: summa's lhs must split its last two dims [r, c] and no other, got 8x6 on 2x2 split [c, r]
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [c, r]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [c, r]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: summa's rhs must split its last two dims [r, c] and no other, got 6x4x1 on 2x2 split [r, c, _]
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4x1xf32 on 2x2 split [r, c, _]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4x1xf32 on 2x2 split [r, c, _]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: summa's result must split its last two dims [r, c] and no other, got 8x4 on 2x2 split [r, _]
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, _]>

// -----

// CHECK: contraction sizes differ: (8, 6), (5, 4)
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<5x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<5x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// -----

// CHECK: result shape (8, 6) is wrong
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.matmul' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<6x4xf16 on 2x2 split [r, c]>
%0 = mesh.matmul summa %a, %b : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf16 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>

// === redistribute ===

// -----

// CHECK: redistribute keeps the global shape
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.redistribute %a : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<4x8xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.redistribute' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]>
%0 = mesh.redistribute %a : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x4xf16 on 1x1 split [_, _]>
