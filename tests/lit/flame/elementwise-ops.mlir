// RUN: pyflame-opt %s | pyflame-opt | filecheck %s

// Every elementwise function of pyflame/core/elementwise.py is a flame op (operand kinds and
// result kinds from its row: comparisons give i1, logical ops take i1); where and convert.

// CHECK:         func.func @main(%a: tensor<4x5xf32>, %s: tensor<f32>, %c: tensor<4x5xi1>) -> tensor<4x5xf32> {
// CHECK-NEXT:    %u0 = flame.neg %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u1 = flame.abs %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u2 = flame.relu %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u3 = flame.exp %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u4 = flame.log %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u5 = flame.sqrt %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u6 = flame.rsqrt %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u7 = flame.tanh %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u8 = flame.sigmoid %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u9 = flame.gelu %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u10 = flame.silu %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %u11 = flame.logical_not %c : tensor<4x5xi1> -> tensor<4x5xi1>
// CHECK-NEXT:    %b12 = flame.add %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b13 = flame.sub %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b14 = flame.mul %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b15 = flame.div %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b16 = flame.pow %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b17 = flame.maximum %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b18 = flame.minimum %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b19 = flame.eq %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b20 = flame.ne %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b21 = flame.lt %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b22 = flame.le %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b23 = flame.gt %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b24 = flame.ge %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b25 = flame.logical_and %c, %c : (tensor<4x5xi1>, tensor<4x5xi1>) -> tensor<4x5xi1>
// CHECK-NEXT:    %b26 = flame.logical_or %c, %c : (tensor<4x5xi1>, tensor<4x5xi1>) -> tensor<4x5xi1>
// CHECK-NEXT:    %u27 = flame.trunc %a : tensor<4x5xf32> -> tensor<4x5xf32>
// CHECK-NEXT:    %b28 = flame.floor_divide %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b29 = flame.remainder %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %b30 = flame.fmod %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %w = flame.where %c, %a, %s : (tensor<4x5xi1>, tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
// CHECK-NEXT:    %h = flame.convert %a : tensor<4x5xf32> -> tensor<4x5xbf16>
builtin.module {
  func.func @main(%a: tensor<4x5xf32>, %s: tensor<f32>, %c: tensor<4x5xi1>) -> tensor<4x5xf32> {
    %u0 = flame.neg %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u1 = flame.abs %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u2 = flame.relu %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u3 = flame.exp %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u4 = flame.log %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u5 = flame.sqrt %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u6 = flame.rsqrt %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u7 = flame.tanh %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u8 = flame.sigmoid %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u9 = flame.gelu %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u10 = flame.silu %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %u11 = flame.logical_not %c : tensor<4x5xi1> -> tensor<4x5xi1>
    %b12 = flame.add %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b13 = flame.sub %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b14 = flame.mul %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b15 = flame.div %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b16 = flame.pow %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b17 = flame.maximum %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b18 = flame.minimum %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b19 = flame.eq %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
    %b20 = flame.ne %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
    %b21 = flame.lt %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
    %b22 = flame.le %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
    %b23 = flame.gt %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
    %b24 = flame.ge %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xi1>
    %b25 = flame.logical_and %c, %c : (tensor<4x5xi1>, tensor<4x5xi1>) -> tensor<4x5xi1>
    %b26 = flame.logical_or %c, %c : (tensor<4x5xi1>, tensor<4x5xi1>) -> tensor<4x5xi1>
    %u27 = flame.trunc %a : tensor<4x5xf32> -> tensor<4x5xf32>
    %b28 = flame.floor_divide %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b29 = flame.remainder %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %b30 = flame.fmod %a, %s : (tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %w = flame.where %c, %a, %s : (tensor<4x5xi1>, tensor<4x5xf32>, tensor<f32>) -> tensor<4x5xf32>
    %h = flame.convert %a : tensor<4x5xf32> -> tensor<4x5xbf16>
    func.return %w : tensor<4x5xf32>
  }
}
