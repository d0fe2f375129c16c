// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p plan-memory | filecheck %s

// 512x512xf32 on 4x4 PEs: 64 KiB tiles, two live at once (128 KiB) on a 48 KiB PE. The error
// names the biggest live tensor and the line that made it, and the smallest square grid on
// which the whole program fits (7x7: 74x74 tiles, 2 x 21.4 KiB).

// CHECK:      net.py:3: error: SRAM overflow: tensor<512x512xf32> on a 4x4 grid made at net.py:3 needs 64.0 KiB per PE;
// CHECK-SAME: with the other live tensors the program needs 128.0 KiB per PE, but each PE has 48.0 KiB of SRAM (44.0 KiB for data on small).
// CHECK-SAME: A layout that would fit: layout=pf.MeshLayout.grid(7, 7).
// CHECK-NOT:  Traceback
// CHECK-NOT:  mesh.
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<512x512xf32>) -> tensor<512x512xf32> {
    %0 = mesh.scatter %a : tensor<512x512xf32> -> !mesh.tensor<512x512xf32 on 4x4 split [r, c]> loc("net.py":3:0)
    %1 = mesh.unary relu %0 : !mesh.tensor<512x512xf32 on 4x4 split [r, c]> loc("net.py":4:0)
    %2 = mesh.gather %1 : !mesh.tensor<512x512xf32 on 4x4 split [r, c]> -> tensor<512x512xf32>
    func.return %2 : tensor<512x512xf32>
  }
}
