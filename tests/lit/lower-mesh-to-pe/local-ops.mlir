// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// Each mesh value becomes a pe.alloc (one tile per PE of its grid, named after what made it and
// the user's line, no offset yet) followed by the pe op that fills it on the grid's rectangle.

// CHECK-LABEL: func.func @ops(%a: tensor<8x8xf32>, %s: i64) -> tensor<8x8xf32>
// CHECK-NEXT:    %[[IN:.*]] = pe.alloc {name = "input@net.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.host_in %a, %[[IN]] {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>} : tensor<8x8xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %[[F:.*]] = pe.alloc {name = "fill@net.py:4", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.fill %[[F]] {pes = array<i64: 0, 0, 2, 2>, value = 2.000000e+00 : f64} : !pe.buf<16xf32>
// CHECK-NEXT:    %[[R:.*]] = pe.alloc {name = "randn", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.random_normal %[[R]], %s {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>} : !pe.buf<16xf32>, i64
// CHECK-NEXT:    %[[U:.*]] = pe.alloc {name = "scale", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.unary scale %[[U]], %[[IN]] {pes = array<i64: 0, 0, 2, 2>, scalar = 5.000000e-01 : f64} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %[[M:.*]] = pe.alloc {name = "mul", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.binary mul %[[M]], %[[U]], %[[F]] {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %[[N:.*]] = pe.alloc {name = "relu", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.unary relu %[[N]], %[[M]] {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %[[D:.*]] = pe.alloc {name = "add", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.binary add %[[D]], %[[N]], %[[R]] {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %[[T:.*]] = pe.alloc {name = "transpose", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.transpose %[[T]], %[[D]] {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 4, 4>, perm = array<i64: 1, 0>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %[[O:.*]] = pe.host_out %[[T]] {layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<8x8xf32>
// CHECK-NEXT:    func.return %[[O]] : tensor<8x8xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @ops(%a: tensor<8x8xf32>, %s: i64) -> tensor<8x8xf32> {
    %0 = mesh.scatter %a : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]> loc("net.py":3:0)
    %1 = mesh.fill 2.0 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]> loc("net.py":4:0)
    %2 = mesh.random_normal %s : i64 -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %3 = mesh.unary scale %0 by 0.5 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %4 = mesh.binary mul %3, %1 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>, !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %5 = mesh.unary relu %4 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %6 = mesh.binary add %5, %2 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>, !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %7 = mesh.transpose %6 perm [1, 0] : !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf32 on 2x2 split [c, r]>
    %8 = mesh.gather %7 : !mesh.tensor<8x8xf32 on 2x2 split [c, r]> -> tensor<8x8xf32>
    func.return %8 : tensor<8x8xf32>
  }
}
