// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p plan-memory | filecheck %s

// As liveness.mlir, but %0 is used at the end too: five 9 KiB tiles are live at once.

// CHECK:      error: SRAM overflow: tensor<384x384xf32> on a 8x8 grid needs 9.0 KiB per PE;
// CHECK-SAME: with the other live tensors the program needs 45.0 KiB per PE, but each PE has 48.0 KiB of SRAM (44.0 KiB for data on small).
// CHECK-SAME: A layout that would fit: layout=pf.MeshLayout.grid(9, 9).
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<384x384xf32>) -> (tensor<384x1x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>) {
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
    %10 = mesh.gather %0 : !mesh.tensor<384x384xf32 on 8x8 split [r, c]> -> tensor<384x384xf32>
    func.return %6, %7, %8, %9, %10 : tensor<384x1x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>, tensor<384x384xf32>
  }
}
