// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.allreduce with `algorithm rsag` (reduce-scatter + allgather; docs/passes.md) along a line
// of 4 PEs, 5 values per PE: halves [0, 3) and [3, 5) (windows of the buffer), owned by the two
// middle PEs (cols 1 and 2). The owners first send each other their partial of the other's half
// (asynchronously) and combine what they get; then each half is reduced by a chain from each
// end that passes the other owner's router without stopping (color 2: `west -> [east]` at col
// 1, `east -> [west]` at col 2); then each owner multicasts its half from the centre on a color
// of its own and every other PE takes both halves, in order.

// CHECK-LABEL: func.func @rsag
// CHECK:      %1 = pe.send %0 window [0, 3] {pes = array<i64: 0, 2, 1, 1>, color = 0 : i64} : !pe.buf<5xf32> -> !pe.token
// CHECK-NEXT: %2 = pe.send %0 window [3, 2] {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64} : !pe.buf<5xf32> -> !pe.token
// CHECK-NEXT: pe.recv %0 window [0, 3] combine sum {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [3, 2] combine sum {pes = array<i64: 0, 2, 1, 1>, color = 0 : i64} : !pe.buf<5xf32>
// CHECK:      pe.route west -> [east] {color = 2 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK:      pe.route east -> [west] {color = 2 : i64, pes = array<i64: 0, 2, 1, 1>}
// CHECK-NEXT: pe.send %0 window [0, 3] {pes = array<i64: 0, 0, 1, 1>, color = 1 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [0, 3] combine sum {pes = array<i64: 0, 1, 1, 1>, color = 1 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.send %0 window [3, 2] {pes = array<i64: 0, 3, 1, 1>, color = 1 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [3, 2] combine sum {pes = array<i64: 0, 2, 1, 1>, color = 1 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.send %0 window [3, 2] {pes = array<i64: 0, 0, 1, 1>, color = 2 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [3, 2] combine sum {pes = array<i64: 0, 2, 1, 1>, color = 2 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.send %0 window [0, 3] {pes = array<i64: 0, 3, 1, 1>, color = 2 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [0, 3] combine sum {pes = array<i64: 0, 1, 1, 1>, color = 2 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.wait %1 {pes = array<i64: 0, 2, 1, 1>}
// CHECK-NEXT: pe.wait %2 {pes = array<i64: 0, 1, 1, 1>}
// CHECK:      %3 = pe.send %0 window [0, 3] {pes = array<i64: 0, 1, 1, 1>, color = 3 : i64} : !pe.buf<5xf32> -> !pe.token
// CHECK-NEXT: %4 = pe.send %0 window [3, 2] {pes = array<i64: 0, 2, 1, 1>, color = 4 : i64} : !pe.buf<5xf32> -> !pe.token
// CHECK-NEXT: pe.recv %0 window [0, 3] {pes = array<i64: 0, 0, 1, 1>, color = 3 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [0, 3] {pes = array<i64: 0, 2, 1, 2>, color = 3 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [3, 2] {pes = array<i64: 0, 0, 1, 2>, color = 4 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.recv %0 window [3, 2] {pes = array<i64: 0, 3, 1, 1>, color = 4 : i64} : !pe.buf<5xf32>
// CHECK-NEXT: pe.wait %3 {pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT: pe.wait %4 {pes = array<i64: 0, 2, 1, 1>}

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @rsag(%a: tensor<5x4xf32>) -> tensor<5x1xf32> {
    %0 = mesh.scatter %a : tensor<5x4xf32> -> !mesh.tensor<5x4xf32 on 1x4 split [_, c]>
    %1 = mesh.allreduce sum %0 dims [1] algorithm rsag : !mesh.tensor<5x4xf32 on 1x4 split [_, c]> -> !mesh.tensor<5x1xf32 on 1x4 split [_, _]>
    %2 = mesh.gather %1 : !mesh.tensor<5x1xf32 on 1x4 split [_, _]> -> tensor<5x1xf32>
    func.return %2 : tensor<5x1xf32>
  }
}
