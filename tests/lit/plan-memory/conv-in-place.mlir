// RUN: pyflame-opt %s -p plan-memory 2>&1 | filecheck %s

// The same conv without padding and stride 2 on aligned blocks (2x2 kernel): the tiles are
// read in place, no halo buffers, and the program fits.
// CHECK-NOT: error
// CHECK:     mesh.conv2d
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<1x16x64x64xf32>, %w: tensor<16x16x2x2xf32>) -> tensor<1x16x32x32xf32> {
    %0 = mesh.scatter %x : tensor<1x16x64x64xf32> -> !mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]>
    %1 = mesh.scatter %w : tensor<16x16x2x2xf32> -> !mesh.tensor<16x16x2x2xf32 on 4x4 split [_, _, _, _]>
    %2 = mesh.conv2d %0, %1 stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] groups 1 : (!mesh.tensor<1x16x64x64xf32 on 4x4 split [_, _, r, c]>, !mesh.tensor<16x16x2x2xf32 on 4x4 split [_, _, _, _]>) -> !mesh.tensor<1x16x32x32xf32 on 4x4 split [_, _, r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<1x16x32x32xf32 on 4x4 split [_, _, r, c]> -> tensor<1x16x32x32xf32>
    func.return %3 : tensor<1x16x32x32xf32>
  }
}
