// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// Every pe op and the !pe.buf type survive a print/parse round trip (custom and generic forms)
// with their attributes.

// CHECK:       builtin.module attributes {pf.target = #pf.target<"small">}
// CHECK-LABEL: func.func @main(%x: tensor<8x8xf32>, %s: i64) -> tensor<8x8xf32>
// CHECK-NEXT:    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    %c = pe.alloc {name = "c@demo.py:3", pes = array<i64: 0, 0, 2, 2>, offset = 128 : i64} : !pe.buf<16xf32>
// CHECK-NEXT:    %r1 = pe.alloc {name = "r1", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>
// CHECK-NEXT:    %h = pe.alloc {name = "h", pes = array<i64: 1, 0, 1, 2>} : !pe.buf<8xf16>
// CHECK-NEXT:    pe.host_in %x, %a {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<8x8xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.random_normal %b, %s {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, i64
// CHECK-NEXT:    pe.fill %c {value = 0.000000e+00 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.route ramp -> [east, west, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.route north -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.routes [ramp -> [east] at [0, 0, 2, 1], west -> [south, ramp] at [0, 1, 1, 1]] {color = 1 : i64, pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.recv %b combine sum {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.recv %b {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>} : !pe.buf<16xf32>
// CHECK-NEXT:    %t = pe.send %a {color = 1 : i64, pes = array<i64: 0, 0, 2, 1>} : !pe.buf<16xf32> -> !pe.token
// CHECK-NEXT:    %u = pe.recv %b combine max forward {color = 1 : i64, pes = array<i64: 0, 1, 2, 1>} : !pe.buf<16xf32> -> !pe.token
// CHECK-NEXT:    pe.wait %t {pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.wait %u, %u {pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.matmul_acc %c, %a, %b {m = 4 : i64, k = 4 : i64, n = 4 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.binary add %c, %a, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.fused %c, %a, %b expr "mul.f32($0, 2.0:f32); add.f32(%0, $1); relu.f32(%1)" {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.unary relu %c, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.unary scale %c, %c {scalar = 2.000000e+00 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.reduce sum %r1, %a {shape = array<i64: 4, 4>, dims = array<i64: 0, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.transpose %b, %a {shape = array<i64: 2, 8>, perm = array<i64: 1, 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.copy %b, %c {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.mask_pad %c {layout = #pe.layout<7x8xf32 on 2x2 split [r, c]>, value = 0.000000e+00 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.exchange %b, %a {color = 1 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.fill %h {value = 1.000000e+00 : f64, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<8xf16>
// CHECK-NEXT:    %o = pe.host_out %c {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<8x8xf32>
// CHECK-NEXT:    func.return %o : tensor<8x8xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%x: tensor<8x8xf32>, %s: i64) -> tensor<8x8xf32> {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
    %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %c = pe.alloc {name = "c@demo.py:3", pes = array<i64: 0, 0, 2, 2>, offset = 128 : i64} : !pe.buf<16xf32>
    %r1 = pe.alloc {name = "r1", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>
    %h = pe.alloc {name = "h", pes = array<i64: 1, 0, 1, 2>} : !pe.buf<8xf16>
    pe.host_in %x, %a {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<8x8xf32>, !pe.buf<16xf32>
    pe.random_normal %b, %s {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, i64
    pe.fill %c {value = 0.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.route ramp -> [east, west, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>}
    pe.route north -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.routes [ramp -> [east] at [0, 0, 2, 1], west -> [south, ramp] at [0, 1, 1, 1]] {color = 1 : i64, pes = array<i64: 0, 0, 2, 2>}
    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>} : !pe.buf<16xf32>
    pe.recv %b combine sum {color = 0 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.recv %b {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>} : !pe.buf<16xf32>
    %t = pe.send %a {color = 1 : i64, pes = array<i64: 0, 0, 2, 1>} : !pe.buf<16xf32> -> !pe.token
    %u = pe.recv %b combine max forward {color = 1 : i64, pes = array<i64: 0, 1, 2, 1>} : !pe.buf<16xf32> -> !pe.token
    pe.wait %t {pes = array<i64: 0, 0, 2, 1>}
    pe.wait %u, %u {pes = array<i64: 0, 1, 1, 1>}
    pe.matmul_acc %c, %a, %b {m = 4 : i64, k = 4 : i64, n = 4 : i64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.binary add %c, %a, %b {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.fused %c, %a, %b expr "mul.f32($0, 2.0:f32); add.f32(%0, $1); relu.f32(%1)" {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.unary relu %c, %a {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.unary scale %c, %c {scalar = 2.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.reduce sum %r1, %a {shape = array<i64: 4, 4>, dims = array<i64: 0, 1>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>, !pe.buf<16xf32>
    pe.transpose %b, %a {shape = array<i64: 2, 8>, perm = array<i64: 1, 0>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.copy %b, %c {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.mask_pad %c {layout = #pe.layout<7x8xf32 on 2x2 split [r, c]>, value = 0.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.exchange %b, %a {color = 1 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    pe.fill %h {value = 1.0 : f64, pes = array<i64: 1, 0, 1, 2>} : !pe.buf<8xf16>
    %o = pe.host_out %c {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<8x8xf32>
    func.return %o : tensor<8x8xf32>
  }
}
