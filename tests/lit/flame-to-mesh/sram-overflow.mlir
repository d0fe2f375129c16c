// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// flame-to-mesh ends with plan-memory: a program that cannot fit in PE SRAM is refused with
// the user's line, the KiB needed per PE, the SRAM per PE and a grid that would fit.

// A 4096x4096 matmul on 16x16 PEs (default target, WSE2): 256 KiB tiles; A, B, C and SUMMA's
// two receive buffers make 1280 KiB per PE.
// CHECK:      model.py:12: error: SRAM overflow: tensor<4096x4096xf32> on a 16x16 grid made at model.py:12 needs 256.0 KiB per PE;
// CHECK-SAME: with the other live tensors the program needs 1280.0 KiB per PE, but each PE has 48.0 KiB of SRAM (44.0 KiB for data on WSE2).
// CHECK-SAME: A layout that would fit: layout=pf.MeshLayout.grid(88, 88).
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
func.func @main(%a: tensor<4096x4096xf32>, %b: tensor<4096x4096xf32>) -> tensor<4096x4096xf32> {
  %0 = flame.matmul %a, %b {layout = #flame.layout<grid [16, 16]>} : (tensor<4096x4096xf32>, tensor<4096x4096xf32>) -> tensor<4096x4096xf32> loc("model.py":12:0)
  func.return %0 : tensor<4096x4096xf32>
}
