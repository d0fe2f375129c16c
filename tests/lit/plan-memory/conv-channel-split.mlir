// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p plan-memory | filecheck %s

// The channel-split conv2d of the issue's layer (8x64x56x56, 64 3x3 filters) on 32x32 PEs:
// tiles of 7 KiB (input, output) and 4.5 KiB (2 filters per PE column), but every input
// channel's window (8 x 4 x 58, 7.3 KiB, 2 per PE) and the two receive buffers of the
// double-buffered steps come on top: plan-memory counts them and refuses, suggesting a grid on
// which the same form fits.

// CHECK:      error: SRAM overflow: tensor<8x64x56x56xf32> on a 32x32 grid
// CHECK-SAME: A layout that would fit: layout=pf.MeshLayout.grid(56, 56).
// CHECK:      exit status: 1
builtin.module {
  func.func @main(%x: tensor<8x64x56x56xf32>, %w: tensor<64x64x3x3xf32>) -> tensor<8x64x56x56xf32> {
    %0 = mesh.scatter %x : tensor<8x64x56x56xf32> -> !mesh.tensor<8x64x56x56xf32 on 32x32 split [_, c, r, _]>
    %1 = mesh.scatter %w : tensor<64x64x3x3xf32> -> !mesh.tensor<64x64x3x3xf32 on 32x32 split [c, _, _, _]>
    %2 = mesh.conv2d %0, %1 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<8x64x56x56xf32 on 32x32 split [_, c, r, _]>, !mesh.tensor<64x64x3x3xf32 on 32x32 split [c, _, _, _]>) -> !mesh.tensor<8x64x56x56xf32 on 32x32 split [_, c, r, _]>
    %3 = mesh.gather %2 : !mesh.tensor<8x64x56x56xf32 on 32x32 split [_, c, r, _]> -> tensor<8x64x56x56xf32>
    func.return %3 : tensor<8x64x56x56xf32>
  }
}
