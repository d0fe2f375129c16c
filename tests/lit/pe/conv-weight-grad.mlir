// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// pe.conv2d_weight_grad round-trips: dw (O x C/groups x kh x kw) from a PE's window and its block
// of the conv's output gradient.

// CHECK-LABEL: func.func @weight_grad
// CHECK:         pe.conv2d_weight_grad %dw, %win, %dy {in_shape = array<i64: 2, 4, 6, 6>, out_shape = array<i64: 2, 6, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>, !pe.buf<288xf32>, !pe.buf<96xf32>
func.func @weight_grad() {
  %win = pe.alloc {name = "win", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<288xf32>
  %dy = pe.alloc {name = "dy", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
  %dw = pe.alloc {name = "dw", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>
  pe.conv2d_weight_grad %dw, %win, %dy {in_shape = array<i64: 2, 4, 6, 6>, out_shape = array<i64: 2, 6, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>, !pe.buf<288xf32>, !pe.buf<96xf32>
  func.return
}
