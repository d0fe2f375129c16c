// RUN: pyflame-opt %s -p plan-memory | filecheck %s
// RUN: pyflame-opt %s > %t.expected && pyflame-opt %s -p plan-memory | diff %t.expected -

// plan-memory only checks: a program that fits comes out unchanged (the `diff` above).
// 512x512xf32 on 8x8 PEs: two live 16 KiB tiles, 32 KiB of the 44 KiB for data.

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<512x512xf32> -> !mesh.tensor<512x512xf32 on 8x8 split [r, c]>
// CHECK-NEXT:    %1 = mesh.unary relu %0 : !mesh.tensor<512x512xf32 on 8x8 split [r, c]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<512x512xf32 on 8x8 split [r, c]> -> tensor<512x512xf32>
// CHECK-NEXT:    func.return %2 : tensor<512x512xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<512x512xf32>) -> tensor<512x512xf32> {
    %0 = mesh.scatter %a : tensor<512x512xf32> -> !mesh.tensor<512x512xf32 on 8x8 split [r, c]>
    %1 = mesh.unary relu %0 : !mesh.tensor<512x512xf32 on 8x8 split [r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<512x512xf32 on 8x8 split [r, c]> -> tensor<512x512xf32>
    func.return %2 : tensor<512x512xf32>
  }
}
