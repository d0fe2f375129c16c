// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory --print-debuginfo | filecheck %s

// Every mesh op made for a flame op carries that op's location (the user's line), so later
// diagnostics name it. Scatters placed for an op's operands take the op's location too.

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    mesh.scatter %a {{.*}} loc("model.py":7:0)
// CHECK-NEXT:    mesh.scatter %b {{.*}} loc("model.py":7:0)
// CHECK-NEXT:    mesh.matmul {{.*}} loc("model.py":7:0)
// CHECK-NEXT:    mesh.unary relu {{.*}} loc("model.py":8:4)
// CHECK-NEXT:    mesh.mask_pad {{.*}} loc("model.py":9:0)
// CHECK-NEXT:    mesh.local_reduce {{.*}} loc("model.py":9:0)
// CHECK-NEXT:    mesh.reduce {{.*}} loc("model.py":9:0)
// CHECK-NEXT:    mesh.reshape {{.*}} loc("model.py":9:0)
// CHECK-NEXT:    mesh.unary scale {{.*}} by {{.*}} loc("model.py":9:0)
// CHECK-NEXT:    mesh.gather {{.*}} loc("model.py":10:0)
// CHECK-NEXT:    func.return {{.*}} loc("model.py":10:0)
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<62x50xf32>, %b: tensor<50x30xf32>) -> tensor<30xf32> {
    %0 = flame.matmul %a, %b {layout = #flame.layout<grid [4, 4]>} : (tensor<62x50xf32>, tensor<50x30xf32>) -> tensor<62x30xf32> loc("model.py":7:0)
    %1 = flame.relu %0 : tensor<62x30xf32> -> tensor<62x30xf32> loc("model.py":8:4)
    %2 = flame.reduce_mean %1 {dims = array<i64: 0>} : tensor<62x30xf32> -> tensor<30xf32> loc("model.py":9:0)
    func.return %2 : tensor<30xf32> loc("model.py":10:0)
  }
}
