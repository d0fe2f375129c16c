// BUG (passes/layouts.py, layout_to_dist, raised from flame-to-mesh): a layout hint the fabric
// cannot hold raises a CompileError that carries no location, so the diagnostic names only the
// input file (`layout-error-location.mlir: error: layout ...`), not the line of the op whose
// hint it is.
// RUN: not pyflame-opt %s -p decompose,flame-to-mesh,plan-memory 2>&1 | filecheck %s

// CHECK: net.py:5{{(:0)?}}: error: layout #flame.layout<grid [32, 32]> needs a 32x32 grid; the small fabric has 16x16 PEs
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<64x64xf32>) -> tensor<64x64xf32> {
    %0 = flame.relu %a {layout = #flame.layout<grid [32, 32]>} : tensor<64x64xf32> -> tensor<64x64xf32> loc("net.py":5:0)
    func.return %0 : tensor<64x64xf32>
  }
}
