// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// With no hint anywhere, a tensor of at most 16 KiB lives on one PE; a bigger one on the smallest
// square grid whose tiles are at most 4 KiB (a 1-D one over that many PEs in a row).

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
}
