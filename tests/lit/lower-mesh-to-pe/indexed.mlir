// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.gather_rows and mesh.scatter_add_rows: one pe op on the table's grid, reading the
// table's tile through the index (its layout says which rows each PE holds); scatter-add
// zeroes its result first.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @lookup
// CHECK:         %2 = pe.alloc {name = "gather_rows", pes = array<i64: 0, 0, 4, 2>} : !pe.buf<40xf32>
// CHECK-NEXT:    pe.gather_rows %2, %0, %1 {pes = array<i64: 0, 0, 4, 2>, layout = #pe.layout<64x16xf32 on 4x2 split [r, c]>} : !pe.buf<40xf32>, !pe.buf<128xf32>, !pe.buf<5xi32>
func.func @lookup(%w: tensor<64x16xf32>, %i: tensor<5xi32>) -> tensor<4x5x16xf32> {
  %0 = mesh.scatter %w : tensor<64x16xf32> -> !mesh.tensor<64x16xf32 on 4x2 split [r, c]>
  %1 = mesh.scatter %i : tensor<5xi32> -> !mesh.tensor<5xi32 on 4x2 split [_]>
  %2 = mesh.gather_rows %0, %1 : (!mesh.tensor<64x16xf32 on 4x2 split [r, c]>, !mesh.tensor<5xi32 on 4x2 split [_]>) -> !mesh.tensor<4x5x16xf32 on 4x2 split [r, _, c]>
  %3 = mesh.gather %2 : !mesh.tensor<4x5x16xf32 on 4x2 split [r, _, c]> -> tensor<4x5x16xf32>
  func.return %3 : tensor<4x5x16xf32>
}

// CHECK-LABEL: func.func @grad
// CHECK:         %2 = pe.alloc {name = "scatter_add_rows", pes = array<i64: 0, 0, 4, 2>} : !pe.buf<128xf32>
// CHECK-NEXT:    pe.fill %2 {pes = array<i64: 0, 0, 4, 2>, value = 0.000000e+00 : f64} : !pe.buf<128xf32>
// CHECK-NEXT:    pe.scatter_add_rows %2, %1, %0 {pes = array<i64: 0, 0, 4, 2>, layout = #pe.layout<64x16xf32 on 4x2 split [r, c]>} : !pe.buf<128xf32>, !pe.buf<40xf32>, !pe.buf<5xi32>
func.func @grad(%i: tensor<5xi32>, %g: tensor<5x16xf32>) -> tensor<64x16xf32> {
  %0 = mesh.scatter %i : tensor<5xi32> -> !mesh.tensor<5xi32 on 4x2 split [_]>
  %1 = mesh.scatter %g : tensor<5x16xf32> -> !mesh.tensor<5x16xf32 on 4x2 split [_, c]>
  %2 = mesh.scatter_add_rows %0, %1 : (!mesh.tensor<5xi32 on 4x2 split [_]>, !mesh.tensor<5x16xf32 on 4x2 split [_, c]>) -> !mesh.tensor<64x16xf32 on 4x2 split [r, c]>
  %3 = mesh.gather %2 : !mesh.tensor<64x16xf32 on 4x2 split [r, c]> -> tensor<64x16xf32>
  func.return %3 : tensor<64x16xf32>
}
}
