// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Distributions that hold the same tiles (splits over mesh axes of size 1 are no splits) are
// retyped with a local mesh.reshape, never copied with mesh.redistribute.

// CHECK:      %[[A:.*]] = mesh.scatter %a : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 1x1 split [_, _]>
// CHECK-NEXT: %[[R:.*]] = mesh.reshape %[[A]] : !mesh.tensor<6x4xf32 on 1x1 split [_, _]> -> !mesh.tensor<6x4xf32 on 1x1 split [r, c]>
// CHECK-NOT:  mesh.redistribute
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<6x4xf32> {flame.layout = #flame.layout<single>}, %b: tensor<4x3xf32>) -> tensor<6x3xf32> {
    %0 = flame.matmul %a, %b : (tensor<6x4xf32>, tensor<4x3xf32>) -> tensor<6x3xf32>
    func.return %0 : tensor<6x3xf32>
  }
}
