// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// The halo exchange's pe.pack / pe.unpack and the local pe.conv2d (bias optional; `accumulate`:
// out += conv, a channel-split conv2d's step) and
// pe.pool2d round-trip.

// CHECK-LABEL: func.func @halo_and_conv
// CHECK:         pe.pack %s, %t {shape = array<i64: 1, 4, 4, 4>, dim = 2 : i64, start = 3 : i64, count = 1 : i64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>, !pe.buf<64xf32>
// CHECK-NEXT:    pe.unpack %win, %s along r {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 0>, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<96xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.unpack %win, %t along r {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 4 : i64, at = array<i64: 1, -1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>, !pe.buf<64xf32>
// CHECK-NEXT:    pe.conv2d %o, %x, %w, %b {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.conv2d %o2, %x, %dw {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 4 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>, !pe.buf<144xf32>, !pe.buf<36xf32>
// CHECK-NEXT:    pe.conv2d %o, %x, %w {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, accumulate, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>
// CHECK-NEXT:    pe.pool2d max %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>
// CHECK-NEXT:    pe.pool2d avg %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, dilation = array<i64: 2, 2>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>
func.func @halo_and_conv() {
  %t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
  %s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
  %win = pe.alloc {name = "win", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
  %x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
  %w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
  %dw = pe.alloc {name = "dw", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<36xf32>
  %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
  %o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
  %o2 = pe.alloc {name = "o2", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>
  pe.pack %s, %t {shape = array<i64: 1, 4, 4, 4>, dim = 2 : i64, start = 3 : i64, count = 1 : i64, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<16xf32>, !pe.buf<64xf32>
  pe.unpack %win, %s along r {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 0>, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<96xf32>, !pe.buf<16xf32>
  pe.unpack %win, %t along r {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 4 : i64, at = array<i64: 1, -1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>, !pe.buf<64xf32>
  pe.conv2d %o, %x, %w, %b {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>, !pe.buf<4xf32>
  pe.conv2d %o2, %x, %dw {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 4 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>, !pe.buf<144xf32>, !pe.buf<36xf32>
  pe.conv2d %o, %x, %w {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, accumulate, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>
  pe.pool2d max %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>
  pe.pool2d avg %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, dilation = array<i64: 2, 2>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>
  func.return
}
