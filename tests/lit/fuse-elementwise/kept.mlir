// RUN: pyflame-opt %s -p fuse-elementwise | filecheck %s

// What stays as it is: an op whose input another op overwrites between it and the chain's end
// (moving it to the end would read the new value), an i32 chain (its kernels check overflow),
// and a lone op (nothing to fuse it with).

// CHECK-LABEL: func.func @overwritten
// CHECK:         pe.unary neg %n, %x
// CHECK-NEXT:    pe.fill %x
// CHECK-NEXT:    pe.binary add %s, %n, %x
// CHECK-NOT:     pe.fused
// CHECK-LABEL: func.func @int32
// CHECK-NOT:     pe.fused
// CHECK-LABEL: func.func @lone
// CHECK-NOT:     pe.fused
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @overwritten() {
    %x = pe.alloc {name = "x", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    %n = pe.alloc {name = "n", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    %s = pe.alloc {name = "s", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.fill %x {value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.unary neg %n, %x {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>
    pe.fill %x {value = 2.0 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.binary add %s, %n, %x {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>, !pe.buf<4xf32>
    func.return
  }
  func.func @int32() {
    %x = pe.alloc {name = "x", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>
    %n = pe.alloc {name = "n", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>
    %s = pe.alloc {name = "s", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>
    pe.fill %x {value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>
    pe.unary neg %n, %x {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>, !pe.buf<4xi32>
    pe.binary add %s, %n, %x {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xi32>, !pe.buf<4xi32>, !pe.buf<4xi32>
    func.return
  }
  func.func @lone() {
    %x = pe.alloc {name = "x", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    %n = pe.alloc {name = "n", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    pe.fill %x {value = 1.0 : f64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>
    %t = pe.send %x {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32> -> !pe.token
    pe.wait %t {pes = array<i64: 0, 0, 1, 1>}
    pe.unary neg %n, %x {pes = array<i64: 0, 0, 1, 1>} : !pe.buf<4xf32>, !pe.buf<4xf32>
    func.return
  }
}
