// RUN: pyflame-opt %s -p fuse-elementwise | filecheck %s
// RUN: pyflame-opt %s -p fuse-elementwise,allocate-sram > %t.mlir && pyflame-run %t.mlir --seed 1 | filecheck %s --check-prefix=SIM

// A chain with a scalar fill and a row broadcast becomes one pe.fused: the fill is a constant,
// the broadcast a stride-0 read of the row, the intermediate buffers and their allocs are gone.
// %t is also returned to the host, so it stays a buffer: it ends the first group and is an
// input of the second.

// CHECK-LABEL: func.func @main
// CHECK-NOT:     pe.fill
// CHECK-NOT:     pe.broadcast
// CHECK:         %t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.fused %t, %x, %row expr "mul.f32($0, 1.5:f32); broadcast.f32($1, 1x4, 4x4); add.f32(%0, %1)" {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %r = pe.alloc {name = "r", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.fused %r, %t expr "relu.f32($0); exp.f32(%0)" {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.host_out %t
// CHECK-NEXT:    pe.host_out %r
// SIM: output 0: shape=(8, 8)
// SIM: output 1: shape=(8, 8)
// SIM: cycles
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<8x8xf32>, %b: tensor<8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>) {
    %x = pe.alloc {name = "x", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %row = pe.alloc {name = "row", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
    pe.host_in %a, %x {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<8x8xf32>, !pe.buf<16xf32>
    pe.host_in %b, %row {layout = #pe.layout<8xf32 on 2x2 split [c]>, pes = array<i64: 0, 0, 2, 2>} : tensor<8xf32>, !pe.buf<4xf32>
    %k = pe.alloc {name = "k", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>
    pe.fill %k {value = 1.5 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<1xf32>
    %m = pe.alloc {name = "m", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.binary mul %m, %x, %k {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<1xf32>
    %bc = pe.alloc {name = "bc", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.broadcast %bc, %row {src_shape = array<i64: 1, 4>, dst_shape = array<i64: 4, 4>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<4xf32>
    %t = pe.alloc {name = "t", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.binary add %t, %m, %bc {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>, !pe.buf<16xf32>
    %u = pe.alloc {name = "u", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.unary relu %u, %t {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    %r = pe.alloc {name = "r", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.unary exp %r, %u {pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
    %o1 = pe.host_out %t {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<8x8xf32>
    %o2 = pe.host_out %r {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<8x8xf32>
    func.return %o1, %o2 : tensor<8x8xf32>, tensor<8x8xf32>
  }
}
