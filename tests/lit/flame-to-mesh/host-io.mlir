// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Program inputs are scattered from the host at their first use, results gathered back before
// the return. Non-tensor arguments (seeds, ...) pass through; an unused input is never sent.

// CHECK-LABEL: func.func @io(%a: tensor<8x8xf32>, %unused: tensor<4xf32>, %n: i64) -> (tensor<8x8xf32>, tensor<8x8xf32>, i64)
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %1 = mesh.unary relu %0 : !mesh.tensor<8x8xf32 on 1x1 split [_, _]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<8x8xf32 on 1x1 split [_, _]> -> tensor<8x8xf32>
// CHECK-NEXT:    %3 = mesh.gather %0 : !mesh.tensor<8x8xf32 on 1x1 split [_, _]> -> tensor<8x8xf32>
// CHECK-NEXT:    func.return %2, %3, %n : tensor<8x8xf32>, tensor<8x8xf32>, i64
// CHECK-NOT:     %unused
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @io(%a: tensor<8x8xf32>, %unused: tensor<4xf32>, %n: i64) -> (tensor<8x8xf32>, tensor<8x8xf32>, i64) {
    %0 = flame.relu %a : tensor<8x8xf32> -> tensor<8x8xf32>
    func.return %0, %a, %n : tensor<8x8xf32>, tensor<8x8xf32>, i64
  }

// An input returned untouched still makes the round trip through the fabric, in its hinted
// layout.
// CHECK-LABEL: func.func @passthrough
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 1x4 split [_, c]>
// CHECK-NEXT:    %1 = mesh.gather %0 : !mesh.tensor<64x64xf32 on 1x4 split [_, c]> -> tensor<64x64xf32>
// CHECK-NEXT:    func.return %1 : tensor<64x64xf32>
  func.func @passthrough(%a: tensor<64x64xf32> {flame.layout = #flame.layout<col_partition [4]>}) -> tensor<64x64xf32> {
    func.return %a : tensor<64x64xf32>
  }
}
