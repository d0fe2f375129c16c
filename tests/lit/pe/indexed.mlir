// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// pe.gather_rows and pe.scatter_add_rows survive a print/parse round trip: the table's tile
// layout tells each PE which rows it holds; the rows buffer holds index entries x the tile's
// row width.

// CHECK-LABEL: func.func @indexed
// CHECK:         pe.gather_rows %rows, %w, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<6xf32>, !pe.buf<10xf32>, !pe.buf<3xi32>
// CHECK-NEXT:    pe.scatter_add_rows %w, %rows, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<10xf32>, !pe.buf<6xf32>, !pe.buf<3xi32>
func.func @indexed() {
  %w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
  %i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<3xi32>
  %rows = pe.alloc {name = "rows", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
  pe.gather_rows %rows, %w, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<6xf32>, !pe.buf<10xf32>, !pe.buf<3xi32>
  pe.scatter_add_rows %w, %rows, %i {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<10x4xf32 on 2x2 split [r, c]>} : !pe.buf<10xf32>, !pe.buf<6xf32>, !pe.buf<3xi32>
  func.return
}
