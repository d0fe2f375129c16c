// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// flame.conv2d (with and without its optional bias), flame.max_pool2d and flame.avg_pool2d
// survive a print/parse round trip (custom and generic forms). padding is (top, bottom, left,
// right).

// CHECK-LABEL: func.func @conv(%x: tensor<2x4x13x11xf32>, %w: tensor<6x2x3x2xf32>, %b: tensor<6xf32>)
// CHECK-NEXT:    %0 = flame.conv2d %x, %w, %b {stride = array<i64: 2, 1>, padding = array<i64: 2, 2, 1, 1>, dilation = array<i64: 1, 2>, groups = 2 : i64} : (tensor<2x4x13x11xf32>, tensor<6x2x3x2xf32>, tensor<6xf32>) -> tensor<2x6x8x11xf32>
// CHECK-NEXT:    %1 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64, layout = #flame.layout<grid [2, 2]>} : (tensor<2x4x13x11xf32>, tensor<6x2x3x2xf32>) -> tensor<2x6x11x10xf32>
func.func @conv(%x: tensor<2x4x13x11xf32>, %w: tensor<6x2x3x2xf32>, %b: tensor<6xf32>) -> (tensor<2x6x8x11xf32>, tensor<2x6x11x10xf32>) {
  %0 = flame.conv2d %x, %w, %b {stride = array<i64: 2, 1>, padding = array<i64: 2, 2, 1, 1>, dilation = array<i64: 1, 2>, groups = 2 : i64} : (tensor<2x4x13x11xf32>, tensor<6x2x3x2xf32>, tensor<6xf32>) -> tensor<2x6x8x11xf32>
  %1 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64, layout = #flame.layout<grid [2, 2]>} : (tensor<2x4x13x11xf32>, tensor<6x2x3x2xf32>) -> tensor<2x6x11x10xf32>
  func.return %0, %1 : tensor<2x6x8x11xf32>, tensor<2x6x11x10xf32>
}

// CHECK-LABEL: func.func @pools(%x: tensor<1x3x13x11xf32>)
// CHECK-NEXT:    %0 = flame.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 2, 1, 1>, dilation = array<i64: 1, 1>} : tensor<1x3x13x11xf32> -> tensor<1x3x7x6xf32>
// CHECK-NEXT:    %1 = flame.avg_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, count_include_pad} : tensor<1x3x13x11xf32> -> tensor<1x3x6x5xf32>
// CHECK-NEXT:    %2 = flame.avg_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, divisor = 4 : i64} : tensor<1x3x13x11xf32> -> tensor<1x3x13x11xf32>
func.func @pools(%x: tensor<1x3x13x11xf32>) -> (tensor<1x3x7x6xf32>, tensor<1x3x6x5xf32>, tensor<1x3x13x11xf32>) {
  %0 = flame.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 2, 1, 1>, dilation = array<i64: 1, 1>} : tensor<1x3x13x11xf32> -> tensor<1x3x7x6xf32>
  %1 = flame.avg_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, count_include_pad} : tensor<1x3x13x11xf32> -> tensor<1x3x6x5xf32>
  %2 = flame.avg_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, divisor = 4 : i64} : tensor<1x3x13x11xf32> -> tensor<1x3x13x11xf32>
  func.return %0, %1, %2 : tensor<1x3x7x6xf32>, tensor<1x3x6x5xf32>, tensor<1x3x13x11xf32>
}
