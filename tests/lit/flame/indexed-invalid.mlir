// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Verifier errors of flame.gather_rows and flame.scatter_add_rows, one case per chunk.

// CHECK: gather_rows needs a 2-D table [V, D], got shape [10]
%w = "test.op"() : () -> tensor<10xf32>
%i = "test.op"() : () -> tensor<3xi32>
%0 = flame.gather_rows %w, %i : (tensor<10xf32>, tensor<3xi32>) -> tensor<3xf32>

// -----

// CHECK: 'flame.gather_rows' index must hold i32, got f32
%w = "test.op"() : () -> tensor<10x4xf32>
%i = "test.op"() : () -> tensor<3xf32>
%0 = flame.gather_rows %w, %i : (tensor<10x4xf32>, tensor<3xf32>) -> tensor<3x4xf32>

// -----

// CHECK: result shape [3, 5] should be [3, 4] for 'flame.gather_rows'
%w = "test.op"() : () -> tensor<10x4xf32>
%i = "test.op"() : () -> tensor<3xi32>
%0 = flame.gather_rows %w, %i : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x5xf32>

// -----

// CHECK: 'flame.gather_rows' does not take i1 rows (convert them to i32)
%w = "test.op"() : () -> tensor<10x4xi1>
%i = "test.op"() : () -> tensor<3xi32>
%0 = flame.gather_rows %w, %i : (tensor<10x4xi1>, tensor<3xi32>) -> tensor<3x4xi1>

// -----

// CHECK: scatter_add_rows needs a source of the index's shape plus one dim [*I, D], got index [3] and source [2, 4]
%i = "test.op"() : () -> tensor<3xi32>
%g = "test.op"() : () -> tensor<2x4xf32>
%0 = flame.scatter_add_rows %i, %g {rows = 10 : i64} : (tensor<3xi32>, tensor<2x4xf32>) -> tensor<10x4xf32>

// -----

// CHECK: result shape [9, 4] should be [10, 4] for 'flame.scatter_add_rows'
%i = "test.op"() : () -> tensor<3xi32>
%g = "test.op"() : () -> tensor<3x4xf32>
%0 = flame.scatter_add_rows %i, %g {rows = 10 : i64} : (tensor<3xi32>, tensor<3x4xf32>) -> tensor<9x4xf32>
