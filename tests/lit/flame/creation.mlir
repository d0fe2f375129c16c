// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-debuginfo | pyflame-opt --print-debuginfo | filecheck %s --check-prefix=LOC

// flame.iota, flame.random_uniform and batched flame.matmul survive a print/parse round trip
// (custom and generic forms), attributes and locations included.

// CHECK-LABEL: func.func @creation(%seed: i64)
// CHECK-NEXT:    %0 = flame.iota {dim = 0 : i64, start = 2.000000e+00 : f64, step = 3.000000e+00 : f64} : tensor<5xi32>
// CHECK-NEXT:    %1 = flame.iota {dim = 1 : i64, start = -1.500000e+00 : f64, step = 2.500000e-01 : f64, layout = #flame.layout<grid [2, 2]>} : tensor<4x6xf32>
// CHECK-NEXT:    %2 = flame.random_uniform %seed {minval = -3.000000e+00 : f64, maxval = 7.000000e+00 : f64} : i64 -> tensor<3x3xi32>
// CHECK-NEXT:    %3 = flame.random_uniform %seed {minval = 0.000000e+00 : f64, maxval = 1.000000e+00 : f64, layout = #flame.layout<col_partition [2]>} : i64 -> tensor<8xbf16>
// LOC:           flame.iota {{.*}} : tensor<5xi32> loc("demo.py":3:0)
// LOC:           flame.random_uniform {{.*}} -> tensor<3x3xi32> loc("demo.py":5:0)
func.func @creation(%seed: i64) -> (tensor<5xi32>, tensor<4x6xf32>, tensor<3x3xi32>, tensor<8xbf16>) {
  %0 = flame.iota {dim = 0 : i64, start = 2.0 : f64, step = 3.0 : f64} : tensor<5xi32> loc("demo.py":3:0)
  %1 = flame.iota {dim = 1 : i64, start = -1.5 : f64, step = 0.25 : f64, layout = #flame.layout<grid [2, 2]>} : tensor<4x6xf32>
  %2 = flame.random_uniform %seed {minval = -3.0 : f64, maxval = 7.0 : f64} : i64 -> tensor<3x3xi32> loc("demo.py":5:0)
  %3 = flame.random_uniform %seed {minval = 0.0 : f64, maxval = 1.0 : f64, layout = #flame.layout<col_partition [2]>} : i64 -> tensor<8xbf16>
  func.return %0, %1, %2, %3 : tensor<5xi32>, tensor<4x6xf32>, tensor<3x3xi32>, tensor<8xbf16>
}

// Batched matmul: equal batch dims, or none on one side (that side is shared).
// CHECK-LABEL: func.func @matmul
// CHECK-NEXT:    %0 = flame.matmul %a, %b : (tensor<2x3x4x5xf32>, tensor<2x3x5x6xf32>) -> tensor<2x3x4x6xf32>
// CHECK-NEXT:    %1 = flame.matmul %a, %c : (tensor<2x3x4x5xf32>, tensor<5x6xf32>) -> tensor<2x3x4x6xf32>
// CHECK-NEXT:    %2 = flame.matmul %d, %b : (tensor<4x5xf32>, tensor<2x3x5x6xf32>) -> tensor<2x3x4x6xf32>
func.func @matmul(%a: tensor<2x3x4x5xf32>, %b: tensor<2x3x5x6xf32>, %c: tensor<5x6xf32>, %d: tensor<4x5xf32>) -> (tensor<2x3x4x6xf32>, tensor<2x3x4x6xf32>, tensor<2x3x4x6xf32>) {
  %0 = flame.matmul %a, %b : (tensor<2x3x4x5xf32>, tensor<2x3x5x6xf32>) -> tensor<2x3x4x6xf32>
  %1 = flame.matmul %a, %c : (tensor<2x3x4x5xf32>, tensor<5x6xf32>) -> tensor<2x3x4x6xf32>
  %2 = flame.matmul %d, %b : (tensor<4x5xf32>, tensor<2x3x5x6xf32>) -> tensor<2x3x4x6xf32>
  func.return %0, %1, %2 : tensor<2x3x4x6xf32>, tensor<2x3x4x6xf32>, tensor<2x3x4x6xf32>
}
