// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every flame verifier error, one case per split-input-file chunk. Each message is checked at the
// start of a line (the verifier's own line, not the annotation under the op).

// === layout attribute ===

// CHECK: unknown layout kind 'diagonal' (one of ['col_partition', 'grid', 'replicated', 'row_partition', 'single'])
%0 = "test.op"() {layout = #flame.layout<diagonal>} : () -> tensor<4xf32>

// -----

// CHECK: layout 'grid' takes 2 sizes, got 1
%0 = "test.op"() {layout = #flame.layout<grid [4]>} : () -> tensor<4xf32>

// -----

// CHECK: layout 'row_partition' takes 1 sizes, got 2
%0 = "test.op"() {layout = #flame.layout<row_partition [2, 2]>} : () -> tensor<4xf32>

// -----

// CHECK: layout 'single' takes 0 sizes, got 1
%0 = "test.op"() {layout = #flame.layout<single [1]>} : () -> tensor<4xf32>

// -----

// CHECK: layout 'grid' sizes must be positive
%0 = "test.op"() {layout = #flame.layout<grid [0, 2]>} : () -> tensor<4xf32>

// -----

// A layout hint on an op is verified too.
// CHECK: layout 'replicated' takes 2 sizes, got 0
%0 = "test.op"() : () -> tensor<4xf32>
%1 = flame.relu %0 {layout = #flame.layout<replicated>} : tensor<4xf32> -> tensor<4xf32>

// === elementwise ===

// -----

// CHECK: 'flame.add' operands must have one shape or be rank-0, got [4], [5]
%a = "test.op"() : () -> tensor<4xf32>
%b = "test.op"() : () -> tensor<5xf32>
%0 = flame.add %a, %b : (tensor<4xf32>, tensor<5xf32>) -> tensor<4xf32>

// -----

// CHECK: result shape [5] should be [4] for 'flame.sub'
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.sub %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<5xf32>

// -----

// CHECK: 'flame.mul' needs operands of one element type, got {{.*}}
%a = "test.op"() : () -> tensor<4xf32>
%b = "test.op"() : () -> tensor<4xf16>
%0 = flame.mul %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>

// -----

// CHECK: 'flame.div' operands must have one shape or be rank-0, got [2, 2], [4]
%a = "test.op"() : () -> tensor<2x2xf32>
%b = "test.op"() : () -> tensor<4xf32>
%0 = flame.div %a, %b : (tensor<2x2xf32>, tensor<4xf32>) -> tensor<2x2xf32>

// -----

// CHECK: result shape [5] should be [4] for 'flame.relu'
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.relu %a : tensor<4xf32> -> tensor<5xf32>

// -----

// CHECK: 'flame.neg' result must hold f32
%a = "test.op"() : () -> tensor<4xf32>
%0 = flame.neg %a : tensor<4xf32> -> tensor<4xf16>

// === reductions ===

// -----

// CHECK: dims [2] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_sum %a {dims = array<i64: 2>} : tensor<4x3xf32> -> tensor<4x3xf32>

// -----

// CHECK: dims [1, 0] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_sum %a {dims = array<i64: 1, 0>} : tensor<4x3xf32> -> tensor<f32>

// -----

// CHECK: dims [0, 0] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_mean %a {dims = array<i64: 0, 0>} : tensor<4x3xf32> -> tensor<3xf32>

// -----

// CHECK: dims [-1] must be sorted, unique and in [0, 2)
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_mean %a {dims = array<i64: -1>} : tensor<4x3xf32> -> tensor<4xf32>

// -----

// keepdim keeps the reduced dims as size 1.
// CHECK: result shape [3] should be [1, 3] for 'flame.reduce_mean'
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_mean %a {dims = array<i64: 0>, keepdim} : tensor<4x3xf32> -> tensor<3xf32>

// -----

// CHECK: result shape [1, 3] should be [3] for 'flame.reduce_sum'
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<4x3xf32> -> tensor<1x3xf32>

// -----

// CHECK: 'flame.reduce_sum' needs one element type, got {{.*}}
%a = "test.op"() : () -> tensor<4x3xf32>
%0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<4x3xf32> -> tensor<3xf16>

// === matmul ===

// -----

// CHECK: matmul needs two tensors of rank 2 or more here, got shapes [4] and [4, 2]
%a = "test.op"() : () -> tensor<4xf32>
%b = "test.op"() : () -> tensor<4x2xf32>
%0 = flame.matmul %a, %b : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>

// -----

// CHECK: matmul: shapes [2, 3] and [4, 2] cannot be multiplied (3 != 4)
%a = "test.op"() : () -> tensor<2x3xf32>
%b = "test.op"() : () -> tensor<4x2xf32>
%0 = flame.matmul %a, %b : (tensor<2x3xf32>, tensor<4x2xf32>) -> tensor<2x2xf32>

// -----

// CHECK: result shape [2, 3] should be [2, 2] for 'flame.matmul'
%a = "test.op"() : () -> tensor<2x3xf32>
%b = "test.op"() : () -> tensor<3x2xf32>
%0 = flame.matmul %a, %b : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x3xf32>

// -----

// CHECK: 'flame.matmul' needs one element type, got {{.*}}
%a = "test.op"() : () -> tensor<2x3xf32>
%b = "test.op"() : () -> tensor<3x2xf16>
%0 = flame.matmul %a, %b : (tensor<2x3xf32>, tensor<3x2xf16>) -> tensor<2x2xf32>

// === shape ops ===

// -----

// CHECK: permutation [0, 0] does not fit shape [2, 3]
%a = "test.op"() : () -> tensor<2x3xf32>
%0 = flame.transpose %a {perm = array<i64: 0, 0>} : tensor<2x3xf32> -> tensor<2x2xf32>

// -----

// CHECK: permutation [1, 0, 2] does not fit shape [2, 3]
%a = "test.op"() : () -> tensor<2x3xf32>
%0 = flame.transpose %a {perm = array<i64: 1, 0, 2>} : tensor<2x3xf32> -> tensor<3x2xf32>

// -----

// CHECK: result shape [2, 3] should be [3, 2] for 'flame.transpose'
%a = "test.op"() : () -> tensor<2x3xf32>
%0 = flame.transpose %a {perm = array<i64: 1, 0>} : tensor<2x3xf32> -> tensor<2x3xf32>

// -----

// CHECK: cannot reshape [2, 3] (6 elements) to [7]
%a = "test.op"() : () -> tensor<2x3xf32>
%0 = flame.reshape %a : tensor<2x3xf32> -> tensor<7xf32>

// -----

// CHECK: 'flame.reshape' needs one element type, got {{.*}}
%a = "test.op"() : () -> tensor<2x3xf32>
%0 = flame.reshape %a : tensor<2x3xf32> -> tensor<6xf16>

// === operand kinds ===

// -----

// The seed of a random op is an integer operand, never a float.
// CHECK: f32 should be of base attribute integer_type
%s = "test.op"() : () -> f32
%0 = flame.random_normal %s : f32 -> tensor<4xf32>

// -----

// CHECK: property 'value' expected in operation 'flame.fill'
%0 = "flame.fill"() : () -> tensor<4xf32>

// -----

// Flame ops take builtin tensors only.
// CHECK: result 'result' at position 0 does not verify:
// CHECK-NEXT: {{^}}f32 should be of base attribute tensor
%0 = "flame.fill"() {value = 1.0 : f64} : () -> f32
