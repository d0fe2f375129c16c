// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of the mesh shape ops, one case per chunk.

// === broadcast ===

// CHECK: broadcast must keep the grid, got 1x12 on 4x4 split [_, c] -> 3x12 on 2x2 split [_, c]
%a = "test.op"() : () -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
%0 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<3x12xf32 on 2x2 split [_, c]>

// -----

// CHECK: broadcast cannot drop dims: 1x12 on 4x4 split [_, c] -> 12 on 4x4 split [c]
%a = "test.op"() : () -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
%0 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<12xf32 on 4x4 split [c]>

// -----

// A size-1 dim split over the rows holds its element on row 0 only: it cannot be expanded in
// place (redistribute it to [_, c] first).
// CHECK: broadcast 1x12 on 4x4 split [r, c] -> 8x12 on 4x4 split [r, c]: dim 0 must keep its split, or have size 1 and be unsplit
%a = "test.op"() : () -> !mesh.tensor<1x12xf32 on 4x4 split [r, c]>
%0 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<8x12xf32 on 4x4 split [r, c]>

// -----

// CHECK: broadcast 8x12 on 4x4 split [r, c] -> 8x12 on 4x4 split [_, c]: dim 0 must keep its split, or have size 1 and be unsplit
%a = "test.op"() : () -> !mesh.tensor<8x12xf32 on 4x4 split [r, c]>
%0 = mesh.broadcast %a : !mesh.tensor<8x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<8x12xf32 on 4x4 split [_, c]>

// -----

// CHECK: cannot broadcast 2x12 on 4x4 split [_, c] to 8x12 on 4x4 split [r, c]: size 2 of dim 0
%a = "test.op"() : () -> !mesh.tensor<2x12xf32 on 4x4 split [_, c]>
%0 = mesh.broadcast %a : !mesh.tensor<2x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<8x12xf32 on 4x4 split [r, c]>

// -----

// CHECK: 'mesh.broadcast' needs one element type, got ['f32', 'i32']
%a = "test.op"() : () -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
%0 = mesh.broadcast %a : !mesh.tensor<1x12xf32 on 4x4 split [_, c]> -> !mesh.tensor<3x12xi32 on 4x4 split [_, c]>

// === slice ===

// -----

// CHECK: slice result shape [2, 3] should be [2, 2]
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%0 = mesh.slice %a start [1, 0] stop [5, 6] step [2, 3] : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x3xf32 on 2x2 split [r, c]>

// -----

// CHECK: slice of [5, 6]: dim 0 needs 0 <= start <= stop <= 5 and step >= 1, got start 0, stop 5, step 0
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%0 = mesh.slice %a start [0, 0] stop [5, 6] step [0, 1] : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>

// === concat ===

// -----

// CHECK: concat result shape [8, 6] should be [7, 6]
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<2x6xf32 on 1x1 split [_, _]>
%0 = mesh.concat %a, %b dim 0 : (!mesh.tensor<5x6xf32 on 2x2 split [r, c]>, !mesh.tensor<2x6xf32 on 1x1 split [_, _]>) -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>

// -----

// CHECK: cat: shapes [5, 6] and [2, 5] (tensor 1) differ outside dim 0
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<2x5xf32 on 1x1 split [_, _]>
%0 = mesh.concat %a, %b dim 0 : (!mesh.tensor<5x6xf32 on 2x2 split [r, c]>, !mesh.tensor<2x5xf32 on 1x1 split [_, _]>) -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>

// -----

// CHECK: 'mesh.concat' needs one element type, got ['f16', 'f32']
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%b = "test.op"() : () -> !mesh.tensor<2x6xf16 on 1x1 split [_, _]>
%0 = mesh.concat %a, %b dim 0 : (!mesh.tensor<5x6xf32 on 2x2 split [r, c]>, !mesh.tensor<2x6xf16 on 1x1 split [_, _]>) -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>

// === pad ===

// -----

// CHECK: pad result shape [7, 6] should be [7, 7]
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%0 = mesh.pad %a low [0, 1] high [2, 0] value 0.0 : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>

// -----

// CHECK: pad of [5, 6] needs one low and one high width per dim, got 2 and 1
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%0 = mesh.pad %a low [0, 1] high [2] value 0.0 : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<7x6xf32 on 2x2 split [r, c]>

// === relayout ===

// -----

// CHECK: relayout of [5, 6] (30 elements) to [31] (31) changes the element count
%a = "test.op"() : () -> !mesh.tensor<5x6xf32 on 2x2 split [r, c]>
%0 = mesh.relayout %a : !mesh.tensor<5x6xf32 on 2x2 split [r, c]> -> !mesh.tensor<31xf32 on 2x2 split [rc]>
