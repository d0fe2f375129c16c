// RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s

// Tensor types and attributes later stages cannot handle fail the flame verifier at the op's
// (or the function's) line, never later as an internal error or a garbled type: dynamic dims,
// element types PyFlame does not run (f64, i64, ...), a wrongly typed `flame.layout` on a
// function argument, any other `flame.*` attribute, and max/min over a dim of size 0. Each
// chunk below runs on its own (see Inputs/each-chunk.py).

// CHECK-LABEL: chunk 1
// CHECK:       invalid-types.mlir:[[# @LINE + 4]]:3: error: 'flame.relu' op operand 0 tensor<?x4xf32> has a dynamic dim ('?'): PyFlame tensors have static shapes
// CHECK-NOT:   -9223372036854775808
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<?x4xf32>
  %0 = flame.relu %a : tensor<?x4xf32> -> tensor<?x4xf32>

// -----

// CHECK-LABEL: chunk 2
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:3: error: 'flame.add' op operand 0 tensor<4xf64> holds f64, which PyFlame does not run (use f32); element types: f32, f16, bf16, i32, i1
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<4xf64>
  %0 = flame.add %a, %a : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>

// -----

// CHECK-LABEL: chunk 3
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:3: error: 'flame.convert' op result 0 tensor<4xi64> holds i64, which PyFlame does not run; element types
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<4xf32>
  %0 = flame.convert %a : tensor<4xf32> -> tensor<4xi64>

// -----

// A function's signature is checked too, even where no flame op uses the argument.
// CHECK-LABEL: chunk 4
// CHECK:       invalid-types.mlir:[[# @LINE + 2]]:1: error: 'func.func' op argument 1 tensor<?xf32> has a dynamic dim ('?')
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32>, %b: tensor<?xf32>) -> tensor<4xf32> {
  func.return %a : tensor<4xf32>
}

// -----

// CHECK-LABEL: chunk 5
// CHECK:       invalid-types.mlir:[[# @LINE + 2]]:1: error: 'func.func' op result 0 tensor<4xf64> holds f64
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32>) -> tensor<4xf64> {
  %0 = "test.op"(%a) : (tensor<4xf32>) -> tensor<4xf64>
  func.return %0 : tensor<4xf64>
}

// -----

// `flame.layout` on an argument must be a layout, not silently ignored.
// CHECK-LABEL: chunk 6
// CHECK:       invalid-types.mlir:[[# @LINE + 2]]:1: error: 'func.func' op argument 0: 'flame.layout' must be a layout such as #flame.layout<grid [2, 2]>, got 5 : i64
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32> {flame.layout = 5 : i64}) -> tensor<4xf32> {
  %0 = flame.relu %a : tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: chunk 7
// CHECK:       invalid-types.mlir:[[# @LINE + 2]]:1: error: 'func.func' op argument 0: unknown attribute 'flame.layuot'
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32> {flame.layuot = #flame.layout<single>}) -> tensor<4xf32> {
  func.return %a : tensor<4xf32>
}

// -----

// CHECK-LABEL: chunk 8
// CHECK:       invalid-types.mlir:[[# @LINE + 2]]:1: error: 'func.func' op result 0: unknown attribute 'flame.layout' (only function arguments take 'flame.layout'; a result's layout is the `layout` of the op making it)
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32>) -> (tensor<4xf32> {flame.layout = #flame.layout<single>}) {
  func.return %a : tensor<4xf32>
}

// -----

// On an op, the hint is `layout`; a `flame.`-prefixed attribute would be ignored.
// CHECK-LABEL: chunk 9
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:3: error: 'flame.relu' op unknown attribute 'flame.layout' (a flame op takes `layout = #flame.layout<...>`, a function argument `flame.layout`)
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<4xf32>
  %0 = flame.relu %a {flame.layout = #flame.layout<single>} : tensor<4xf32> -> tensor<4xf32>

// -----

// CHECK-LABEL: chunk 10
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:3: error: 'flame.relu' op 5 : i64 should be of base attribute flame.layout
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<4xf32>
  %0 = flame.relu %a {layout = 5 : i64} : tensor<4xf32> -> tensor<4xf32>

// -----

// max and min of no elements have no value (PyTorch refuses them too); sum is fine.
// CHECK-LABEL: chunk 11
// CHECK:       invalid-types.mlir:[[# @LINE + 4]]:3: error: 'flame.reduce_max' op reduce_max(): Expected reduction dim 0 to have non-zero size (dim 0 of shape [0, 4] has size 0: a max or min of no elements)
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<0x4xf32>
  %0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<0x4xf32> -> tensor<4xf32>
  %1 = flame.reduce_max %a {dims = array<i64: 0>} : tensor<0x4xf32> -> tensor<4xf32>

// -----

// CHECK-LABEL: chunk 12
// CHECK:       invalid-types.mlir:[[# @LINE + 3]]:3: error: 'flame.argmin' op argmin(): Expected reduction dim 1 to have non-zero size
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<3x0xf32>
  %0 = flame.argmin %a {dims = array<i64: 1>} : tensor<3x0xf32> -> tensor<3xi32>

// -----

// flame-to-mesh refuses a wrongly typed `flame.layout` itself (here with the verifier off).
// RUN: python %S/../Inputs/exit-status.py pyflame-opt %S/../Inputs/bad-arg-layout.mlir --disable-verify -p decompose,flame-to-mesh,plan-memory | filecheck %s --check-prefix=PASS
// PASS:        bad-arg-layout.mlir:1:1: error: argument 0 of @main: 'flame.layout' must be a layout such as #flame.layout<grid [2, 2]>, got 5 : i64
// PASS-NOT:    Traceback
// PASS:        exit status: 1
