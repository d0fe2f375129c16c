// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// flame.gather_rows and flame.scatter_add_rows survive a print/parse round trip (custom and
// generic forms).

// CHECK-LABEL: func.func @indexed(%w: tensor<10x4xf32>, %i: tensor<3xi32>, %g: tensor<3x4xf32>)
// CHECK-NEXT:    %0 = flame.gather_rows %w, %i : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
// CHECK-NEXT:    %1 = flame.scatter_add_rows %i, %g {rows = 10 : i64} : (tensor<3xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
// CHECK-NEXT:    %2 = flame.gather_rows %w, %i {layout = #flame.layout<grid [2, 2]>} : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
func.func @indexed(%w: tensor<10x4xf32>, %i: tensor<3xi32>, %g: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<10x4xf32>, tensor<3x4xf32>) {
  %0 = flame.gather_rows %w, %i : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
  %1 = flame.scatter_add_rows %i, %g {rows = 10 : i64} : (tensor<3xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %2 = flame.gather_rows %w, %i {layout = #flame.layout<grid [2, 2]>} : (tensor<10x4xf32>, tensor<3xi32>) -> tensor<3x4xf32>
  func.return %0, %1, %2 : tensor<3x4xf32>, tensor<10x4xf32>, tensor<3x4xf32>
}
