// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// pe.iota, pe.random_uniform and batched pe.matmul_acc survive a print/parse round trip.

// CHECK-LABEL: func.func @main(%s: i64)
// CHECK-NEXT:    %i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<12xi32>
// CHECK-NEXT:    %u = pe.alloc {name = "u", pes = array<i64: 0, 0, 2, 2>, offset = 48 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 96 : i64} : !pe.buf<24xf32>
// CHECK-NEXT:    %w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>, offset = 192 : i64} : !pe.buf<6xf32>
// CHECK-NEXT:    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>, offset = 224 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.iota %i {layout = #pe.layout<6x8xi32 on 2x2 split [r, c]>, dim = 1 : i64, start = 1.000000e+00 : f64, step = -1.000000e+00 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xi32>
// CHECK-NEXT:    pe.random_uniform %u, %s {layout = #pe.layout<6x8xf32 on 2x2 split [r, c]>, minval = 0.000000e+00 : f64, maxval = 1.000000e+00 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>, i64
// CHECK-NEXT:    pe.matmul_acc %c, %a, %w {m = 2 : i64, k = 3 : i64, n = 2 : i64, lhs_batch = 4 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<24xf32>, !pe.buf<6xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%s: i64) {
    %i = pe.alloc {name = "i", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<12xi32>
    %u = pe.alloc {name = "u", pes = array<i64: 0, 0, 2, 2>, offset = 48 : i64} : !pe.buf<12xf32>
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 96 : i64} : !pe.buf<24xf32>
    %w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>, offset = 192 : i64} : !pe.buf<6xf32>
    %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 2>, offset = 224 : i64} : !pe.buf<16xf32>
    pe.iota %i {layout = #pe.layout<6x8xi32 on 2x2 split [r, c]>, dim = 1 : i64, start = 1.0 : f64, step = -1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xi32>
    pe.random_uniform %u, %s {layout = #pe.layout<6x8xf32 on 2x2 split [r, c]>, minval = 0.0 : f64, maxval = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>, i64
    pe.matmul_acc %c, %a, %w {m = 2 : i64, k = 3 : i64, n = 2 : i64, lhs_batch = 4 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<24xf32>, !pe.buf<6xf32>
    func.return
  }
}
