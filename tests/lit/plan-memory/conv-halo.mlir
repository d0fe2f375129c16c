// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p plan-memory | filecheck %s

// A 3x3 conv of 1x16x64x64 on 4x4 PEs: the input and output tiles (16 KiB each) and the
// replicated weight (9 KiB) fit in 44 KiB, but the halo exchange's windows do not: the rows
// window (16 x 18 x 16, 18 KiB) and the columns window (16 x 18 x 18, 20.3 KiB) are live
// together with their strips. plan-memory counts them and refuses the program; the weight
// stays replicated on the suggested grid.

// CHECK:      net.py:3: error: SRAM overflow: tensor<1x16x64x64xf32> on a 4x4 grid made at net.py:3 needs 16.0 KiB per PE;
// CHECK-SAME: with the other live tensors the program needs {{[0-9.]+}} KiB per PE,
// CHECK-SAME: A layout that would fit: layout=pf.MeshLayout.grid(6, 6).
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<1x16x64x64xf32>, %w: tensor<16x16x3x3xf32>) -> tensor<1x16x64x64xf32> {
    %0 = mesh.scatter %x : tensor<1x16x64x64xf32> -> !mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]> loc("net.py":3:0)
    %1 = mesh.scatter %w : tensor<16x16x3x3xf32> -> !mesh.tensor<16x16x3x3xf32 on 4x4 split [_, _, _, _]> loc("net.py":4:0)
    %2 = mesh.conv2d %0, %1 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<16x16x3x3xf32 on 4x4 split [_, _, _, _]>) -> !mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]> loc("net.py":5:0)
    %3 = mesh.gather %2 : !mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]> -> tensor<1x16x64x64xf32>
    func.return %3 : tensor<1x16x64x64xf32>
  }
}
