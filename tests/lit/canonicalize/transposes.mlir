// RUN: pyflame-opt %s -p canonicalize | filecheck %s

// A transpose undone by the next one, read nowhere else, is nothing.
// CHECK-LABEL: func.func @twice
// CHECK-NEXT:    func.return %w : tensor<10x256xf32>
func.func @twice(%w: tensor<10x256xf32>) -> tensor<10x256xf32> {
  %0 = flame.transpose %w {perm = array<i64: 1, 0>} : tensor<10x256xf32> -> tensor<256x10xf32>
  %1 = flame.transpose %0 {perm = array<i64: 1, 0>} : tensor<256x10xf32> -> tensor<10x256xf32>
  func.return %1 : tensor<10x256xf32>
}

// The weight gradient of `x @ w.T` as autograd builds it, (x.T @ g).T, is g.T @ x: the
// transpose of x cancels, one transpose of g is made.
// CHECK-LABEL: func.func @weight_grad
// CHECK-NEXT:    %0 = flame.transpose %g {perm = array<i64: 1, 0>} : tensor<64x256xf32> -> tensor<256x64xf32>
// CHECK-NEXT:    %1 = flame.matmul %0, %x : (tensor<256x64xf32>, tensor<64x784xf32>) -> tensor<256x784xf32>
// CHECK-NEXT:    func.return %1 : tensor<256x784xf32>
func.func @weight_grad(%x: tensor<64x784xf32>, %g: tensor<64x256xf32>) -> tensor<256x784xf32> {
  %0 = flame.transpose %x {perm = array<i64: 1, 0>} : tensor<64x784xf32> -> tensor<784x64xf32>
  %1 = flame.matmul %0, %g : (tensor<784x64xf32>, tensor<64x256xf32>) -> tensor<784x256xf32>
  %2 = flame.transpose %1 {perm = array<i64: 1, 0>} : tensor<784x256xf32> -> tensor<256x784xf32>
  func.return %2 : tensor<256x784xf32>
}

// Batched: the last two dims swap, batch dims stay; both operands transposed: no transpose left.
// CHECK-LABEL: func.func @batched
// CHECK-NEXT:    %0 = flame.matmul %b, %a : (tensor<3x5x4xf32>, tensor<3x4x2xf32>) -> tensor<3x5x2xf32>
// CHECK-NEXT:    func.return %0 : tensor<3x5x2xf32>
func.func @batched(%a: tensor<3x4x2xf32>, %b: tensor<3x5x4xf32>) -> tensor<3x5x2xf32> {
  %0 = flame.transpose %a {perm = array<i64: 0, 2, 1>} : tensor<3x4x2xf32> -> tensor<3x2x4xf32>
  %1 = flame.transpose %b {perm = array<i64: 0, 2, 1>} : tensor<3x5x4xf32> -> tensor<3x4x5xf32>
  %2 = flame.matmul %0, %1 : (tensor<3x2x4xf32>, tensor<3x4x5xf32>) -> tensor<3x2x5xf32>
  %3 = flame.transpose %2 {perm = array<i64: 0, 2, 1>} : tensor<3x2x5xf32> -> tensor<3x5x2xf32>
  func.return %3 : tensor<3x5x2xf32>
}

// Left alone: a transposed product of plain operands (two transposes would replace one), a
// product read elsewhere too, and a transpose with the user's layout hint.
// CHECK-LABEL: func.func @kept
// CHECK-NEXT:    %0 = flame.matmul %a, %b
// CHECK-NEXT:    %1 = flame.transpose %0
// CHECK-NEXT:    %2 = flame.transpose %a
// CHECK-NEXT:    %3 = flame.matmul %2, %b
// CHECK-NEXT:    %4 = flame.transpose %3
// CHECK-NEXT:    %5 = flame.transpose %1 {perm = array<i64: 1, 0>, layout = #flame.layout<grid [2, 2]>}
// CHECK-NEXT:    func.return %1, %4, %3, %5
func.func @kept(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>) {
  %0 = flame.matmul %a, %b : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %1 = flame.transpose %0 {perm = array<i64: 1, 0>} : tensor<4x4xf32> -> tensor<4x4xf32>
  %2 = flame.transpose %a {perm = array<i64: 1, 0>} : tensor<4x4xf32> -> tensor<4x4xf32>
  %3 = flame.matmul %2, %b : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
  %4 = flame.transpose %3 {perm = array<i64: 1, 0>} : tensor<4x4xf32> -> tensor<4x4xf32>
  %5 = flame.transpose %1 {perm = array<i64: 1, 0>, layout = #flame.layout<grid [2, 2]>} : tensor<4x4xf32> -> tensor<4x4xf32>
  func.return %1, %4, %3, %5 : tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x4xf32>
}

// Left alone: a back-transpose whose inner transpose is read elsewhere too (flame-to-mesh reads
// it as that layout transposed), and permutations that compose to a third one.
// CHECK-LABEL: func.func @shared_and_composed
// CHECK-NEXT:    %0 = flame.transpose %w
// CHECK-NEXT:    %1 = flame.transpose %0
// CHECK-NEXT:    %2 = flame.transpose %x
// CHECK-NEXT:    %3 = flame.transpose %2
// CHECK-NEXT:    func.return %0, %1, %3
func.func @shared_and_composed(%w: tensor<10x256xf32>, %x: tensor<2x3x4xf32>) -> (tensor<256x10xf32>, tensor<10x256xf32>, tensor<4x3x2xf32>) {
  %0 = flame.transpose %w {perm = array<i64: 1, 0>} : tensor<10x256xf32> -> tensor<256x10xf32>
  %1 = flame.transpose %0 {perm = array<i64: 1, 0>} : tensor<256x10xf32> -> tensor<10x256xf32>
  %2 = flame.transpose %x {perm = array<i64: 1, 2, 0>} : tensor<2x3x4xf32> -> tensor<3x4x2xf32>
  %3 = flame.transpose %2 {perm = array<i64: 1, 0, 2>} : tensor<3x4x2xf32> -> tensor<4x3x2xf32>
  func.return %0, %1, %3 : tensor<256x10xf32>, tensor<10x256xf32>, tensor<4x3x2xf32>
}
