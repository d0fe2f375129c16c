// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// An allreduce of any kind is the same chain as a sum (see allreduce.mlir), its receives
// combining with the kind: pe.recv combine max (forward) keeps the larger of the partial it holds
// and the one arriving. The way back overwrites (no combine). local_reduce becomes pe.reduce of
// the kind, mask_pad masks in place with the kind's identity.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @max_along_columns
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<8xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 2, 3>, layout = #pe.layout<8x5xf32 on 2x3 split [r, c]>} : tensor<8x5xf32>, !pe.buf<8xf32>
// CHECK-NEXT:    pe.mask_pad %0 {pes = array<i64: 0, 0, 2, 3>, layout = #pe.layout<8x5xf32 on 2x3 split [r, c]>, value = 0xfff0000000000000 : f64} : !pe.buf<8xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "partial", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.reduce max %1, %0 {pes = array<i64: 0, 0, 2, 3>, shape = array<i64: 4, 2>, dims = array<i64: 1>} : !pe.buf<4xf32>, !pe.buf<8xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 0, 1, 2, 2>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route west -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 2, 2, 1>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 0, 2, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %1 combine max forward {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %1 combine max forward {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 0, 1, 2, 2>, color = 0 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<8x1xf32 on 2x3 split [r, _]>, pes = array<i64: 0, 0, 2, 3>} : !pe.buf<4xf32> -> tensor<8x1xf32>
  func.func @max_along_columns(%a: tensor<8x5xf32>) -> tensor<8x1xf32> {
    %0 = mesh.scatter %a : tensor<8x5xf32> -> !mesh.tensor<8x5xf32 on 2x3 split [r, c]>
    %1 = mesh.mask_pad %0 value 0xFFF0000000000000 : !mesh.tensor<8x5xf32 on 2x3 split [r, c]>
    %2 = mesh.local_reduce max %1 dims [1] : !mesh.tensor<8x5xf32 on 2x3 split [r, c]> -> !mesh.tensor<8x3xf32 on 2x3 split [r, c]>
    %3 = mesh.allreduce max %2 dims [1] algorithm chain : !mesh.tensor<8x3xf32 on 2x3 split [r, c]> -> !mesh.tensor<8x1xf32 on 2x3 split [r, _]>
    %4 = mesh.gather %3 : !mesh.tensor<8x1xf32 on 2x3 split [r, _]> -> tensor<8x1xf32>
    func.return %4 : tensor<8x1xf32>
  }

// Over both axes of an i32 tensor: a min chain along the columns, then along the rows.
// CHECK-LABEL: func.func @int_min_both_axes
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xi32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<4x4xi32 on 2x2 split [r, c]>} : tensor<4x4xi32>, !pe.buf<4xi32>
// CHECK-NEXT:    %1 = pe.alloc {name = "partial", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xi32>
// CHECK-NEXT:    pe.reduce min %1, %0 {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 2, 2>, dims = array<i64: 0, 1>} : !pe.buf<1xi32>, !pe.buf<4xi32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 0, 1, 2, 1>, color = 0 : i64} : !pe.buf<1xi32>
// CHECK-NEXT:    pe.recv %1 combine min {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<1xi32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 1, 0, 1, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route ramp -> [east, south] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp, south] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.send %1 {pes = array<i64: 1, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xi32>
// CHECK-NEXT:    pe.recv %1 combine min forward {pes = array<i64: 0, 0, 1, 1>, color = 1 : i64} : !pe.buf<1xi32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 1, 0, 1, 2>, color = 1 : i64} : !pe.buf<1xi32>
// CHECK-NEXT:    pe.recv %1 {pes = array<i64: 0, 1, 1, 1>, color = 1 : i64} : !pe.buf<1xi32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<1x1xi32 on 2x2 split [_, _]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xi32> -> tensor<1x1xi32>
  func.func @int_min_both_axes(%a: tensor<4x4xi32>) -> tensor<1x1xi32> {
    %0 = mesh.scatter %a : tensor<4x4xi32> -> !mesh.tensor<4x4xi32 on 2x2 split [r, c]>
    %1 = mesh.local_reduce min %0 dims [0, 1] : !mesh.tensor<4x4xi32 on 2x2 split [r, c]> -> !mesh.tensor<2x2xi32 on 2x2 split [r, c]>
    %2 = mesh.allreduce min %1 dims [0, 1] algorithm chain : !mesh.tensor<2x2xi32 on 2x2 split [r, c]> -> !mesh.tensor<1x1xi32 on 2x2 split [_, _]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1xi32 on 2x2 split [_, _]> -> tensor<1x1xi32>
    func.return %3 : tensor<1x1xi32>
  }
}
