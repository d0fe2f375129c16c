// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// The shape ops (broadcast_to, slice, concat, pad) survive a print/parse round trip in custom
// and generic form. unsqueeze, squeeze and flatten are flame.reshape; stack is reshapes and a
// concat; split, chunk and indexing are slices (plus a reshape for int and None indices).

// CHECK-LABEL: func.func @shape_ops(%a: tensor<1x5xf32>, %b: tensor<5x6xf32>, %c: tensor<2x6xf32>)
// CHECK-NEXT:    %0 = flame.broadcast_to %a : tensor<1x5xf32> -> tensor<4x3x5xf32>
// CHECK-NEXT:    %1 = flame.broadcast_to %a {layout = #flame.layout<grid [2, 2]>} : tensor<1x5xf32> -> tensor<1x5xf32>
// CHECK-NEXT:    %2 = flame.slice %b {start = array<i64: 1, 0>, stop = array<i64: 5, 6>, step = array<i64: 2, 3>} : tensor<5x6xf32> -> tensor<2x2xf32>
// CHECK-NEXT:    %3 = flame.slice %b {start = array<i64: 5, 6>, stop = array<i64: 5, 6>, step = array<i64: 1, 1>} : tensor<5x6xf32> -> tensor<0x0xf32>
// CHECK-NEXT:    %4 = flame.concat %b, %c, %b {dim = 0 : i64} : (tensor<5x6xf32>, tensor<2x6xf32>, tensor<5x6xf32>) -> tensor<12x6xf32>
// CHECK-NEXT:    %5 = flame.concat %c {dim = 1 : i64} : (tensor<2x6xf32>) -> tensor<2x6xf32>
// CHECK-NEXT:    %6 = flame.pad %b {low = array<i64: 0, 1>, high = array<i64: 2, -1>, value = 0.000000e+00 : f64} : tensor<5x6xf32> -> tensor<7x6xf32>
// CHECK-NEXT:    %7 = flame.pad %b {low = array<i64: -5, 0>, high = array<i64: 0, 0>, value = -1.500000e+00 : f64} : tensor<5x6xf32> -> tensor<0x6xf32>
func.func @shape_ops(%a: tensor<1x5xf32>, %b: tensor<5x6xf32>, %c: tensor<2x6xf32>) {
  %0 = flame.broadcast_to %a : tensor<1x5xf32> -> tensor<4x3x5xf32>
  %1 = flame.broadcast_to %a {layout = #flame.layout<grid [2, 2]>} : tensor<1x5xf32> -> tensor<1x5xf32>
  %2 = flame.slice %b {start = array<i64: 1, 0>, stop = array<i64: 5, 6>, step = array<i64: 2, 3>} : tensor<5x6xf32> -> tensor<2x2xf32>
  %3 = flame.slice %b {start = array<i64: 5, 6>, stop = array<i64: 5, 6>, step = array<i64: 1, 1>} : tensor<5x6xf32> -> tensor<0x0xf32>
  %4 = flame.concat %b, %c, %b {dim = 0 : i64} : (tensor<5x6xf32>, tensor<2x6xf32>, tensor<5x6xf32>) -> tensor<12x6xf32>
  %5 = flame.concat %c {dim = 1 : i64} : (tensor<2x6xf32>) -> tensor<2x6xf32>
  %6 = flame.pad %b {low = array<i64: 0, 1>, high = array<i64: 2, -1>, value = 0.0 : f64} : tensor<5x6xf32> -> tensor<7x6xf32>
  %7 = flame.pad %b {low = array<i64: -5, 0>, high = array<i64: 0, 0>, value = -1.5 : f64} : tensor<5x6xf32> -> tensor<0x6xf32>
  func.return
}

// Rank 0 and element types other than f32.
// CHECK-LABEL: func.func @scalars_and_ints(%s: tensor<f32>, %i: tensor<3xi32>)
// CHECK-NEXT:    %0 = flame.broadcast_to %s : tensor<f32> -> tensor<2x3xf32>
// CHECK-NEXT:    %1 = flame.slice %s {start = array<i64>, stop = array<i64>, step = array<i64>} : tensor<f32> -> tensor<f32>
// CHECK-NEXT:    %2 = flame.concat %i, %i {dim = 0 : i64} : (tensor<3xi32>, tensor<3xi32>) -> tensor<6xi32>
// CHECK-NEXT:    %3 = flame.pad %i {low = array<i64: 1>, high = array<i64: 0>, value = 7.000000e+00 : f64} : tensor<3xi32> -> tensor<4xi32>
func.func @scalars_and_ints(%s: tensor<f32>, %i: tensor<3xi32>) {
  %0 = flame.broadcast_to %s : tensor<f32> -> tensor<2x3xf32>
  %1 = flame.slice %s {start = array<i64>, stop = array<i64>, step = array<i64>} : tensor<f32> -> tensor<f32>
  %2 = flame.concat %i, %i {dim = 0 : i64} : (tensor<3xi32>, tensor<3xi32>) -> tensor<6xi32>
  %3 = flame.pad %i {low = array<i64: 1>, high = array<i64: 0>, value = 7.0 : f64} : tensor<3xi32> -> tensor<4xi32>
  func.return
}
