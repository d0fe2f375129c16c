// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory,mesh-to-pe | filecheck %s
// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory,mesh-to-pe | filecheck %s --check-prefix=NONE
// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory,mesh-to-pe | python -c "import re, sys; offsets = [int(x) for x in re.findall(r'offset = (\d+)', sys.stdin.read())]; print(len(offsets), 'offsets,', 'all aligned' if all(x %% 16 == 0 for x in offsets) else 'MISALIGNED')" | filecheck %s --check-prefix=ALIGN

// The whole compiler on a flame program: every buffer has an offset (16-byte aligned), every
// color is below the target's 5, and no flame or mesh op is left.

// ALIGN:       10 offsets, all aligned
// NONE-NOT:    pe.alloc {name = "{{[^"]*}}", pes = array<i64: {{[-0-9, ]*}}>} :
// NONE-NOT:    color = {{([5-9]|[1-9][0-9]+)}} : i64
// NONE-NOT:    flame.
// NONE-NOT:    mesh.{{[a-z_]+ }}
// CHECK-LABEL: func.func @main
// CHECK:         pe.host_in %a
// CHECK:         pe.matmul_acc
// CHECK:         pe.unary relu
// CHECK:         pe.reduce
// CHECK:         pe.unary scale
// CHECK:         pe.host_out
builtin.module attributes {pf.target = #pf.target<"small", num_colors = 5>} {
  func.func @main(%a: tensor<64x48xf32>, %b: tensor<48x32xf32>) -> tensor<32xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [4, 4]>} : (tensor<64x48xf32>, tensor<48x32xf32>) -> tensor<64x32xf32> loc("demo.py":7:0)
    %1 = flame.relu %0 : tensor<64x32xf32> -> tensor<64x32xf32> loc("demo.py":8:0)
    %2 = flame.reduce_mean %1 {dims = array<i64: 0>} : tensor<64x32xf32> -> tensor<32xf32> loc("demo.py":9:0)
    func.return %2 : tensor<32xf32>
  }
}
