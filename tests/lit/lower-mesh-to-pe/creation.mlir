// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.iota and mesh.random_uniform: one pe op on the grid's PEs, no communication; the seed
// stays the function's argument.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @creation(%s: i64)
// CHECK-NEXT:    %0 = pe.alloc {name = "iota", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xi32>
// CHECK-NEXT:    pe.iota %0 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<5x6xi32 on 2x2 split [r, c]>, dim = 1 : i64, start = 3.000000e+00 : f64, step = 2.000000e+00 : f64} : !pe.buf<9xi32>
// CHECK-NEXT:    %1 = pe.alloc {name = "rand", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xi32>
// CHECK-NEXT:    pe.random_uniform %1, %s {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<5x6xi32 on 2x2 split [r, c]>, minval = 0.000000e+00 : f64, maxval = 4.000000e+00 : f64} : !pe.buf<9xi32>, i64
// CHECK-NEXT:    %2 = pe.alloc {name = "add", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xi32>
// CHECK-NEXT:    pe.binary add %2, %0, %1 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<5x6xi32 on 2x2 split [r, c]>}
// CHECK-NOT:     pe.route
  func.func @creation(%s: i64) -> tensor<5x6xi32> {
    %0 = mesh.iota dim 1 start 3.0 step 2.0 : !mesh.tensor<5x6xi32 on 2x2 split [r, c]>
    %1 = mesh.random_uniform %s minval 0.0 maxval 4.0 : i64 -> !mesh.tensor<5x6xi32 on 2x2 split [r, c]>
    %2 = mesh.binary add %0, %1 : !mesh.tensor<5x6xi32 on 2x2 split [r, c]>, !mesh.tensor<5x6xi32 on 2x2 split [r, c]> -> !mesh.tensor<5x6xi32 on 2x2 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<5x6xi32 on 2x2 split [r, c]> -> tensor<5x6xi32>
    func.return %3 : tensor<5x6xi32>
  }
}
