// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// On the 16x16 `small` fabric no grid holds a 4096x4096 matmul: the error says so instead of
// suggesting a layout, and why (the tensors are bigger than all the fabric's SRAM).

// CHECK:      model.py:12: error: SRAM overflow: tensor<4096x4096xf32> on a 16x16 grid made at model.py:12 needs 256.0 KiB per PE;
// CHECK-SAME: the program needs 1280.0 KiB per PE, but each PE has 48.0 KiB of SRAM (44.0 KiB for data on small).
// CHECK-SAME: No layout fits: the tensors live there hold 192.0 MiB, more than the 16x16 PEs of the fabric hold for data (11.0 MiB):
// CHECK-SAME: run the computation in parts (e.g. a smaller batch per call) or on a target with more PEs.
// CHECK-NOT:  pf.MeshLayout
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<4096x4096xf32>, %b: tensor<4096x4096xf32>) -> tensor<4096x4096xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [16, 16]>} : (tensor<4096x4096xf32>, tensor<4096x4096xf32>) -> tensor<4096x4096xf32> loc("model.py":12:0)
    func.return %0 : tensor<4096x4096xf32>
  }
}
