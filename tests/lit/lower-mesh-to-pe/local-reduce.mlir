// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// local_reduce: a pe.reduce over the tile viewed as its block shape. A reduction over an unsplit
// dim needs nothing more.

// CHECK-LABEL: func.func @main
// CHECK:         %[[IN:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<60xf32>
// CHECK:         %[[P:.*]] = pe.alloc {name = "partial", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<5xf32>
// CHECK-NEXT:    pe.reduce sum %[[P]], %[[IN]] {pes = array<i64: 0, 0, 4, 1>, shape = array<i64: 5, 12>, dims = array<i64: 1>} : !pe.buf<5xf32>, !pe.buf<60xf32>
// CHECK-NEXT:    pe.host_out %[[P]] {layout = #pe.layout<18xf32 on 4x1 split [r]>, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<5xf32> -> tensor<18xf32>
// CHECK-NOT:     pe.send
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<18x12xf32>) -> tensor<18xf32> {
    %0 = mesh.scatter %a : tensor<18x12xf32> -> !mesh.tensor<18x12xf32 on 4x1 split [r, _]>
    %1 = mesh.local_reduce sum %0 dims [1] : !mesh.tensor<18x12xf32 on 4x1 split [r, _]> -> !mesh.tensor<18x1xf32 on 4x1 split [r, _]>
    %2 = mesh.reshape %1 : !mesh.tensor<18x1xf32 on 4x1 split [r, _]> -> !mesh.tensor<18xf32 on 4x1 split [r]>
    %3 = mesh.gather %2 : !mesh.tensor<18xf32 on 4x1 split [r]> -> tensor<18xf32>
    func.return %3 : tensor<18xf32>
  }
}
