// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// With no hint anywhere, a tensor of at most 16 KiB lives on one PE; a bigger one on the smallest
// square grid whose tiles are at most 4 KiB (a 1-D one over that many PEs in a row). When its
// last two dims cannot take that grid, the split with the smallest tiles: @small_trailing_dims.

builtin.module attributes {pf.target = #pf.target<"small">} {
// CHECK-LABEL: func.func @defaults
// 10x10xf32 = 400 B: one PE.
// CHECK:         mesh.scatter %s : tensor<10x10xf32> -> !mesh.tensor<10x10xf32 on 1x1 split [_, _]>
// 64x64xf32 = 16 KiB exactly: still one PE.
// CHECK:         mesh.scatter %m : tensor<64x64xf32> -> !mesh.tensor<64x64xf32 on 1x1 split [_, _]>
// 128x128xf32 = 64 KiB: 4x4 PEs of 4 KiB.
// CHECK:         mesh.scatter %a : tensor<128x128xf32> -> !mesh.tensor<128x128xf32 on 4x4 split [r, c]>
// 8192xf32 = 32 KiB: 16 PEs in a row.
// CHECK:         mesh.scatter %v : tensor<8192xf32> -> !mesh.tensor<8192xf32 on 1x16 split [c]>
// 512x512xf32 = 1 MiB: the whole 16x16 fabric.
// CHECK:         mesh.scatter %l : tensor<512x512xf32> -> !mesh.tensor<512x512xf32 on 16x16 split [r, c]>
  func.func @defaults(%s: tensor<10x10xf32>, %m: tensor<64x64xf32>, %a: tensor<128x128xf32>, %v: tensor<8192xf32>, %l: tensor<512x512xf32>) -> (tensor<10x10xf32>, tensor<64x64xf32>, tensor<128x128xf32>, tensor<8192xf32>, tensor<512x512xf32>) {
    %0 = flame.relu %s : tensor<10x10xf32> -> tensor<10x10xf32>
    %1 = flame.relu %m : tensor<64x64xf32> -> tensor<64x64xf32>
    %2 = flame.relu %a : tensor<128x128xf32> -> tensor<128x128xf32>
    %3 = flame.neg %v : tensor<8192xf32> -> tensor<8192xf32>
    %4 = flame.neg %l : tensor<512x512xf32> -> tensor<512x512xf32>
    func.return %0, %1, %2, %3, %4 : tensor<10x10xf32>, tensor<64x64xf32>, tensor<128x128xf32>, tensor<8192xf32>, tensor<512x512xf32>
  }

// CHECK-LABEL: func.func @small_trailing_dims
// 64x64x2x2xf32 = 64 KiB: its last two dims would hold 2x2 PEs of 16 KiB; 4x4 of 4 KiB over
// the leading dims, and the 64x64x1x1 operand (16 KiB, one PE by itself) is made split alike
// for the broadcast (it was whole on each of the 2x2 PEs: 48 KiB with the others).
// CHECK:         mesh.scatter %mask : tensor<64x64x1x1xf32> -> !mesh.tensor<64x64x1x1xf32 on 4x4 split [r, c, _, _]>
// CHECK:         mesh.broadcast {{.*}} -> !mesh.tensor<64x64x2x2xf32 on 4x4 split [r, c, _, _]>
// CHECK:         mesh.scatter %x : tensor<64x64x2x2xf32> -> !mesh.tensor<64x64x2x2xf32 on 4x4 split [r, c, _, _]>
// 2x100000xf32 = 781 KiB: a 2-row grid meets the fabric's edge at 2x16; its long dim goes over
// all 16x16 PEs.
// CHECK:         mesh.scatter %w : tensor<2x100000xf32> -> !mesh.tensor<2x100000xf32 on 16x16 split [_, rc]>
  func.func @small_trailing_dims(%x: tensor<64x64x2x2xf32>, %mask: tensor<64x64x1x1xf32>, %w: tensor<2x100000xf32>) -> (tensor<64x64x2x2xf32>, tensor<2x100000xf32>) {
    %0 = flame.broadcast_to %mask : tensor<64x64x1x1xf32> -> tensor<64x64x2x2xf32>
    %1 = flame.mul %x, %0 : (tensor<64x64x2x2xf32>, tensor<64x64x2x2xf32>) -> tensor<64x64x2x2xf32>
    %2 = flame.neg %w : tensor<2x100000xf32> -> tensor<2x100000xf32>
    func.return %1, %2 : tensor<64x64x2x2xf32>, tensor<2x100000xf32>
  }
}
