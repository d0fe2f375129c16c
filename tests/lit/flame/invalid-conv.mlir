// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of flame.conv2d, flame.max_pool2d and flame.avg_pool2d (the shape rules
// of pyflame/core/shapes.py), one case per split-input-file chunk.

// CHECK: conv2d expects a 4-D (N, C, H, W) input, got shape [3, 8, 8]
%x = "test.op"() : () -> tensor<3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>

// -----

// CHECK: conv2d expects a 4-D (O, C/groups, kh, kw) weight, got shape [4, 3, 3]
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3xf32>) -> tensor<1x4x6x6xf32>

// -----

// CHECK: conv2d: input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] with groups=1 expects 2
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x2x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>

// -----

// CHECK: conv2d: weight [3, 2, 3, 3] has 3 output channels, not divisible by groups=2
%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%w = "test.op"() : () -> tensor<3x2x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x4x8x8xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x6x6xf32>

// -----

// CHECK: conv2d: bias of shape [5] should have shape [4] for weight [4, 3, 3, 3]
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%b = "test.op"() : () -> tensor<5xf32>
%0 = flame.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<5xf32>) -> tensor<1x4x6x6xf32>

// -----

// CHECK: result shape [1, 4, 8, 8] should be [1, 4, 6, 6] for 'flame.conv2d'
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>

// -----

// CHECK: conv2d takes 2 kernel sizes, 2 strides, 2 dilations and 4 paddings (top, bottom, left, right), got [3, 3], [1, 1], [1, 1], [1, 1]
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>

// -----

// CHECK: conv2d: kernel size [3, 3], stride [0, 1] and dilation [1, 1] must be positive
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 0, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>

// -----

// CHECK: conv2d: padding [0, -1, 0, 0] must not be negative
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, -1, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x5x6xf32>

// -----

// CHECK: conv2d: input [1, 3, 2, 8] padded by [0, 0, 0, 0] (top, bottom, left, right) is 2x8, smaller than the (dilated) kernel 3x3
%x = "test.op"() : () -> tensor<1x3x2x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf32>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x2x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x1x6xf32>

// -----

// CHECK: 'flame.conv2d' needs one element type, got ['f16', 'f32']
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%w = "test.op"() : () -> tensor<4x3x3x3xf16>
%0 = flame.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf16>) -> tensor<1x4x6x6xf32>

// -----

// CHECK: max_pool2d expects a 4-D (N, C, H, W) input, got shape [8, 8]
%x = "test.op"() : () -> tensor<8x8xf32>
%0 = flame.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>} : tensor<8x8xf32> -> tensor<4x4xf32>

// -----

// CHECK: result shape [1, 3, 4, 4] should be [1, 3, 3, 3] for 'flame.avg_pool2d'
%x = "test.op"() : () -> tensor<1x3x7x7xf32>
%0 = flame.avg_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>, count_include_pad} : tensor<1x3x7x7xf32> -> tensor<1x3x4x4xf32>

// -----

// CHECK: max_pool2d: kernel size [0, 2], stride [2, 2] and dilation [1, 1] must be positive
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%0 = flame.max_pool2d %x {kernel = array<i64: 0, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, dilation = array<i64: 1, 1>} : tensor<1x3x8x8xf32> -> tensor<1x3x4x4xf32>

// -----

// CHECK: conv2d_weight_grad: the gradient of a conv2d of input [1, 3, 8, 8] with a 3x3 kernel has shape [1, 4, 8, 8], got [1, 4, 6, 6]
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%dy = "test.op"() : () -> tensor<1x4x6x6xf32>
%0 = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<1x4x6x6xf32>) -> tensor<4x3x3x3xf32>

// -----

// CHECK: conv2d_weight_grad: groups=2 must divide the 3 input and 4 output channels
%x = "test.op"() : () -> tensor<1x3x8x8xf32>
%dy = "test.op"() : () -> tensor<1x4x8x8xf32>
%0 = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x3x8x8xf32>, tensor<1x4x8x8xf32>) -> tensor<4x1x3x3xf32>
