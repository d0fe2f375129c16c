// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of the flame shape ops (the messages are pyflame/core/shapes.py's, the same
// the frontend raises at the user's line), one case per chunk.

// === broadcast_to ===

// CHECK: cannot broadcast [3, 2] to [4, 3]: size 3 of dim 0 is neither 1 nor 4
%a = "test.op"() : () -> tensor<3x2xf32>
%0 = flame.broadcast_to %a : tensor<3x2xf32> -> tensor<4x3xf32>

// -----

// CHECK: cannot broadcast [3, 2] to [2]
%a = "test.op"() : () -> tensor<3x2xf32>
%0 = flame.broadcast_to %a : tensor<3x2xf32> -> tensor<2xf32>

// -----

// CHECK: 'flame.broadcast_to' needs one element type, got {{.*}}
%a = "test.op"() : () -> tensor<1x2xf32>
%0 = flame.broadcast_to %a : tensor<1x2xf32> -> tensor<3x2xi32>

// === slice ===

// -----

// CHECK: slice of [5, 6] needs one start, stop and step per dim, got 1, 2 and 2
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.slice %a {start = array<i64: 0>, stop = array<i64: 5, 6>, step = array<i64: 1, 1>} : tensor<5x6xf32> -> tensor<5x6xf32>

// -----

// Python slices are normalized by the frontend: no negative indices, stop within the dim.
// CHECK: slice of [5, 6]: dim 0 needs 0 <= start <= stop <= 5 and step >= 1, got start -1, stop 5, step 1
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.slice %a {start = array<i64: -1, 0>, stop = array<i64: 5, 6>, step = array<i64: 1, 1>} : tensor<5x6xf32> -> tensor<6x6xf32>

// -----

// CHECK: slice of [5, 6]: dim 1 needs 0 <= start <= stop <= 6 and step >= 1, got start 0, stop 7, step 1
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.slice %a {start = array<i64: 0, 0>, stop = array<i64: 5, 7>, step = array<i64: 1, 1>} : tensor<5x6xf32> -> tensor<5x7xf32>

// -----

// CHECK: slice of [5, 6]: dim 1 needs 0 <= start <= stop <= 6 and step >= 1, got start 6, stop 0, step -1
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.slice %a {start = array<i64: 0, 6>, stop = array<i64: 5, 0>, step = array<i64: 1, -1>} : tensor<5x6xf32> -> tensor<5x6xf32>

// -----

// CHECK: result shape [2, 3] should be [2, 2] for 'flame.slice'
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.slice %a {start = array<i64: 1, 0>, stop = array<i64: 5, 6>, step = array<i64: 2, 3>} : tensor<5x6xf32> -> tensor<2x3xf32>

// -----

// CHECK: property 'step' expected in operation 'flame.slice'
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = "flame.slice"(%a) {start = array<i64: 0, 0>, stop = array<i64: 5, 6>} : (tensor<5x6xf32>) -> tensor<5x6xf32>

// === concat ===

// -----

// CHECK: cat: shapes [5, 6] and [2, 5] (tensor 1) differ outside dim 0
%a = "test.op"() : () -> tensor<5x6xf32>
%b = "test.op"() : () -> tensor<2x5xf32>
%0 = flame.concat %a, %b {dim = 0 : i64} : (tensor<5x6xf32>, tensor<2x5xf32>) -> tensor<7x6xf32>

// -----

// CHECK: cat: tensors must have the same rank, got shapes [5, 6] and [6] (tensor 1)
%a = "test.op"() : () -> tensor<5x6xf32>
%b = "test.op"() : () -> tensor<6xf32>
%0 = flame.concat %a, %b {dim = 0 : i64} : (tensor<5x6xf32>, tensor<6xf32>) -> tensor<6x6xf32>

// -----

// CHECK: cat dim 2 is out of range for a tensor of rank 2
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.concat %a, %a {dim = 2 : i64} : (tensor<5x6xf32>, tensor<5x6xf32>) -> tensor<5x6xf32>

// -----

// CHECK: zero-dimensional tensor (at position 0) cannot be concatenated
%a = "test.op"() : () -> tensor<f32>
%0 = flame.concat %a {dim = 0 : i64} : (tensor<f32>) -> tensor<f32>

// -----

// CHECK: cat needs at least one tensor
%0 = flame.concat {dim = 0 : i64} : () -> tensor<2xf32>

// -----

// CHECK: result shape [10, 6] should be [7, 6] for 'flame.concat'
%a = "test.op"() : () -> tensor<5x6xf32>
%b = "test.op"() : () -> tensor<2x6xf32>
%0 = flame.concat %a, %b {dim = 0 : i64} : (tensor<5x6xf32>, tensor<2x6xf32>) -> tensor<10x6xf32>

// -----

// CHECK: 'flame.concat' needs one element type, got {{.*}}
%a = "test.op"() : () -> tensor<5x6xf32>
%b = "test.op"() : () -> tensor<2x6xi32>
%0 = flame.concat %a, %b {dim = 0 : i64} : (tensor<5x6xf32>, tensor<2x6xi32>) -> tensor<7x6xf32>

// === pad ===

// -----

// CHECK: pad of [5, 6] needs one low and one high width per dim, got 1 and 2
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.pad %a {low = array<i64: 1>, high = array<i64: 0, 0>, value = 0.0 : f64} : tensor<5x6xf32> -> tensor<6x6xf32>

// -----

// CHECK: pad of [5, 6]: widths (-4, -2) crop more than the 5 elements of dim 0
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.pad %a {low = array<i64: -4, 0>, high = array<i64: -2, 0>, value = 0.0 : f64} : tensor<5x6xf32> -> tensor<0x6xf32>

// -----

// CHECK: result shape [5, 6] should be [5, 9] for 'flame.pad'
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = flame.pad %a {low = array<i64: 0, 1>, high = array<i64: 0, 2>, value = 0.0 : f64} : tensor<5x6xf32> -> tensor<5x6xf32>

// -----

// CHECK: property 'value' expected in operation 'flame.pad'
%a = "test.op"() : () -> tensor<5x6xf32>
%0 = "flame.pad"(%a) {low = array<i64: 0, 1>, high = array<i64: 0, 2>} : (tensor<5x6xf32>) -> tensor<5x9xf32>
