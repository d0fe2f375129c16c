// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// Every verifier error of pe.pack, pe.unpack, pe.conv2d, pe.conv2d_weight_grad and pe.pool2d, one case per
// split-input-file chunk.

// CHECK: pack dim 4 out of range for shape [1, 4, 4, 4]
%t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.pack %s, %t {shape = array<i64: 1, 4, 4, 4>, dim = 4 : i64, start = 0 : i64, count = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<64xf32>

// -----

// CHECK: pack range [3, 5) outside dim 2 of [1, 4, 4, 4]
%t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>
pe.pack %s, %t {shape = array<i64: 1, 4, 4, 4>, dim = 2 : i64, start = 3 : i64, count = 2 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>, !pe.buf<64xf32>

// -----

// CHECK: pack shape [1, 4, 4, 5] does not match the source buffer
%t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32>
pe.pack %s, %t {shape = array<i64: 1, 4, 4, 5>, dim = 2 : i64, start = 0 : i64, count = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<20xf32>, !pe.buf<64xf32>

// -----

// CHECK: pack dst must hold 16 elements
%t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
pe.pack %s, %t {shape = array<i64: 1, 4, 4, 4>, dim = 2 : i64, start = 0 : i64, count = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>, !pe.buf<64xf32>

// -----

// CHECK: unknown grid axis 'x' (one of r, c)
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.unpack %w, %s along x {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>, !pe.buf<16xf32>

// -----

// CHECK: unpack at must be [base, per-PE step]
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.unpack %w, %s along r {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>, !pe.buf<16xf32>

// -----

// CHECK: unpack shape [1, 4, 5, 4] does not match the destination buffer
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.unpack %w, %s along r {shape = array<i64: 1, 4, 5, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>, !pe.buf<16xf32>

// -----

// CHECK: unpack src must hold 32 elements
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%s = pe.alloc {name = "s", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.unpack %w, %s along r {shape = array<i64: 1, 4, 6, 4>, dim = 2 : i64, count = 2 : i64, at = array<i64: 0, 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>, !pe.buf<16xf32>

// -----

// CHECK: 'pe.conv2d' input [1, 4, 5, 6] is too small for output [1, 4, 4, 4]: dim 2 needs 6
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<120xf32>
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
pe.conv2d %o, %x, %w {in_shape = array<i64: 1, 4, 5, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<120xf32>, !pe.buf<144xf32>

// -----

// CHECK: groups 3 must divide the 4 input and 4 output channels
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
pe.conv2d %o, %x, %w {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 3 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>

// -----

// CHECK: conv2d weight must hold 144 elements
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<36xf32>
pe.conv2d %o, %x, %w {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<36xf32>

// -----

// CHECK: conv2d bias must hold 4 elements
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<5xf32>
pe.conv2d %o, %x, %w, %b {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>, !pe.buf<5xf32>

// -----

// CHECK: conv2d keeps the batch size
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<128xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
%w = pe.alloc {name = "w", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
pe.conv2d %o, %x, %w {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 2, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<128xf32>, !pe.buf<144xf32>, !pe.buf<144xf32>

// -----

// CHECK: unknown pooling 'min'
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
pe.pool2d min %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>, !pe.buf<144xf32>

// -----

// CHECK: pool2d keeps batch and channels
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<48xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
pe.pool2d max %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 3, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<48xf32>, !pe.buf<144xf32>

// -----

// CHECK: pool2d out must hold 64 elements
%o = pe.alloc {name = "o", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<60xf32>
%x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
pe.pool2d max %o, %x {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<60xf32>, !pe.buf<144xf32>

// -----

// CHECK: 'pe.conv2d_weight_grad' input [2, 4, 4, 6] is too small for output [2, 6, 2, 4]: dim 2 needs 5
%win = pe.alloc {name = "win", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<192xf32>
%dy = pe.alloc {name = "dy", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%dw = pe.alloc {name = "dw", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>
pe.conv2d_weight_grad %dw, %win, %dy {in_shape = array<i64: 2, 4, 4, 6>, out_shape = array<i64: 2, 6, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>, !pe.buf<192xf32>, !pe.buf<96xf32>

// -----

// CHECK: conv2d_weight_grad dw must hold 108 elements
%win = pe.alloc {name = "win", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<288xf32>
%dy = pe.alloc {name = "dy", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%dw = pe.alloc {name = "dw", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<216xf32>
pe.conv2d_weight_grad %dw, %win, %dy {in_shape = array<i64: 2, 4, 6, 6>, out_shape = array<i64: 2, 6, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<216xf32>, !pe.buf<288xf32>, !pe.buf<96xf32>

// -----

// CHECK: conv2d_weight_grad keeps the batch size
%win = pe.alloc {name = "win", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<144xf32>
%dy = pe.alloc {name = "dy", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<96xf32>
%dw = pe.alloc {name = "dw", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>
pe.conv2d_weight_grad %dw, %win, %dy {in_shape = array<i64: 1, 4, 6, 6>, out_shape = array<i64: 2, 6, 2, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 2, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>, !pe.buf<144xf32>, !pe.buf<96xf32>
