// RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Layout hints the target's fabric cannot hold are compile errors, not crashes.
// The error names the op's line.

// CHECK:      net.py:5:0: error: layout #flame.layout<grid [32, 32]> needs a 32x32 grid; the small fabric has 16x16 PEs
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %0 = flame.relu %a {layout = #flame.layout<grid [32, 32]>} : tensor<64x64xf32> -> tensor<64x64xf32> loc("net.py":5:0)
    func.return %0 : tensor<64x64xf32>
  }
}
// CHECK-NOT:  Traceback
// CHECK:      exit status: 1
