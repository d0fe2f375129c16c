// RUN: pyflame-opt %s -p plan-memory | filecheck %s

// Only tensors live at the same time count, and a mesh.reshape shares its input's tile. Each
// 384x384xf32 tile on 8x8 PEs is 48x48xf32 = 9 KiB; five are made (45 KiB > 44 KiB for data),
// but %0 is dead once %1 exists and %5 is %4's tile, so at most four (36 KiB) are live.

// CHECK-LABEL: func.func @main
// CHECK:         %5 = mesh.reshape %4
// CHECK:         func.return %6, %7, %8, %9
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<384x384xf32>) -> (tensor<384x1x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>) {
    %0 = mesh.scatter %a : tensor<384x384xf32> -> !mesh.tensor<384x384xf32 on 8x8 split [r, c]>
    %1 = mesh.unary relu %0 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]>
    %2 = mesh.unary neg %1 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]>
    %3 = mesh.binary add %1, %2 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]>, !mesh.tensor<384x384xf32 on 8x8 split [r, c]> -> !mesh.tensor<384x384xf32 on 8x8 split [r, c]>
    %4 = mesh.unary relu %3 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]>
    %5 = mesh.reshape %4 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]> -> !mesh.tensor<384x1x384xf32 on 8x8 split [r, _, c]>
    %6 = mesh.gather %5 : !mesh.tensor<384x1x384xf32 on 8x8 split [r, _, c]> -> tensor<384x1x384xf32>
    %7 = mesh.gather %1 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]> -> tensor<384x384xf32>
    %8 = mesh.gather %2 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]> -> tensor<384x384xf32>
    %9 = mesh.gather %3 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]> -> tensor<384x384xf32>
    func.return %6, %7, %8, %9 : tensor<384x1x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>
  }
}
