// RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt -p decompose,flame-to-mesh,plan-memory,mesh-to-pe | filecheck %s

// Malformed input gives one located diagnostic and exit status 1, never a traceback or an
// "internal error": wrong operand counts, missing or wrongly typed attributes, unknown layouts,
// a layout bigger than the fabric (found by flame-to-mesh, reported at the op that uses the
// input). Each chunk below runs on its own (see Inputs/each-chunk.py).

// CHECK-LABEL: chunk 1
// CHECK:       malformed-located.mlir:[[# @LINE + 4]]:1: error: 'flame.add' op Expected 2 operands, but got 1
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<4xf32>
%0 = "flame.add"(%a) : (tensor<4xf32>) -> tensor<4xf32>

// -----

// CHECK-LABEL: chunk 2
// CHECK:       malformed-located.mlir:[[# @LINE + 3]]:1: error: 'flame.reduce_sum' op property 'dims' expected in operation 'flame.reduce_sum'
// CHECK:       exit status: 1
%a = "test.op"() : () -> tensor<4x4xf32>
%0 = "flame.reduce_sum"(%a) : (tensor<4x4xf32>) -> tensor<4xf32>

// -----

// CHECK-LABEL: chunk 3
// CHECK:       malformed-located.mlir:[[# @LINE + 2]]:1: error: 'flame.fill' op 1 : i64 should be of base attribute float
// CHECK:       exit status: 1
%0 = "flame.fill"() {value = 1 : i64} : () -> tensor<4xf32>

// -----

// CHECK-LABEL: chunk 4
// CHECK:       malformed-located.mlir:[[# @LINE + 2]]:65: error: unknown layout kind 'hexagonal'
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32> {flame.layout = #flame.layout<hexagonal [2]>}) -> tensor<4xf32> {
  func.return %a : tensor<4xf32>
}

// -----

// CHECK-LABEL: chunk 5
// CHECK:       malformed-located.mlir:[[# @LINE + 3]]:3: error: layout #flame.layout<grid [999, 999]> needs a 999x999 grid; the WSE2 fabric has 994x750 PEs
// CHECK:       exit status: 1
func.func @main(%a: tensor<4xf32> {flame.layout = #flame.layout<grid [999, 999]>}) -> tensor<4xf32> {
  %0 = flame.relu %a : tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// CHECK-LABEL: chunk 6
// CHECK:       malformed-located.mlir:[[# @LINE + 2]]:1: error: 'pe.alloc' op property 'pes' expected in operation 'pe.alloc'
// CHECK:       exit status: 1
%0 = "pe.alloc"() {name = "a"} : () -> !pe.buf<4xf32>
