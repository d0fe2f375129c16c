// RUN: pyflame-opt %s -p combine-collectives | filecheck %s
// RUN: pyflame-opt %s -p combine-collectives,lower-mesh-to-pe | filecheck %s --check-prefix=PE

// An MLP step's gradient sums over the PE rows (bias1, W2, bias2: 4 + 40 + 10 values per PE)
// become one mesh.allreduce_group, placed where the last operand is made; the users of the
// earlier sums (tile-local ops) move after it. A sum that reads another's result stays alone.

builtin.module {

// CHECK-LABEL: func.func @gradients
// CHECK:         %0 = mesh.local_reduce sum %a
// CHECK-NEXT:    %1 = mesh.local_reduce sum %b
// CHECK-NEXT:    %2 = mesh.local_reduce sum %c
// CHECK-NEXT:    %3, %4, %5 = mesh.allreduce_group sum %0, %1, %2 dims [array<i64: 0>, array<i64: 0>, array<i64: 0>] algorithm tree {pf.why = "combine-collectives: 3 allreduces as one (4 + 40 + 10 elements per PE, one plan's stages): {{[0-9,]+}} -> {{[0-9,]+}} estimated cycles over the program"} : (!mesh.tensor<64x256xf32 on 64x64 split [r, c]>, !mesh.tensor<64x10x256xf32 on 64x64 split [r, _, c]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]>) -> (!mesh.tensor<1x256xf32 on 64x64 split [_, c]>, !mesh.tensor<1x10x256xf32 on 64x64 split [_, _, c]>, !mesh.tensor<1x10xf32 on 64x64 split [_, _]>)
// CHECK-NEXT:    %6 = mesh.reshape %3
// CHECK-NEXT:    %7 = mesh.binary mul %k, %6
// CHECK-NEXT:    %8 = mesh.reshape %4
// CHECK-NEXT:    %9 = mesh.gather %7

// PE-LABEL: func.func @gradients
// the tiles packed one after the other, one reduction of the 54 values (the tree's chains,
// then the root's multicast back), each result copied out of its slice
// PE:         %[[P:[0-9]+]] = pe.alloc {name = "allreduce_group", pes = array<i64: 0, 0, 64, 64>} : !pe.buf<54xf32>
// PE-NEXT:    pe.unpack %[[P]], %{{[0-9]+}} along r {pes = array<i64: 0, 0, 64, 64>, shape = array<i64: 54>, dim = 0 : i64, count = 4 : i64, at = array<i64: 0, 0>}
// PE-NEXT:    pe.unpack %[[P]], %{{[0-9]+}} along r {pes = array<i64: 0, 0, 64, 64>, shape = array<i64: 54>, dim = 0 : i64, count = 40 : i64, at = array<i64: 4, 0>}
// PE-NEXT:    pe.unpack %[[P]], %{{[0-9]+}} along r {pes = array<i64: 0, 0, 64, 64>, shape = array<i64: 54>, dim = 0 : i64, count = 10 : i64, at = array<i64: 44, 0>}
// PE:         pe.recv %[[P]] combine sum forward
// PE:         pe.send %[[P]] {pes = array<i64: 31, 0, 1, 64>, color = 4 : i64} : !pe.buf<54xf32>
// PE:         pe.pack %{{[0-9]+}}, %[[P]] {pes = array<i64: 0, 0, 64, 64>, shape = array<i64: 54>, dim = 0 : i64, start = 0 : i64, count = 4 : i64}
// PE-NEXT:    pe.alloc
// PE-NEXT:    pe.pack %{{[0-9]+}}, %[[P]] {pes = array<i64: 0, 0, 64, 64>, shape = array<i64: 54>, dim = 0 : i64, start = 4 : i64, count = 40 : i64}
// PE-NEXT:    pe.alloc
// PE-NEXT:    pe.pack %{{[0-9]+}}, %[[P]] {pes = array<i64: 0, 0, 64, 64>, shape = array<i64: 54>, dim = 0 : i64, start = 44 : i64, count = 10 : i64}
  func.func @gradients(%a0: tensor<64x256xf32>, %b0: tensor<64x10x256xf32>, %c0: tensor<64x10xf32>, %k0: tensor<f32>) -> (tensor<256xf32>, tensor<10x256xf32>, tensor<1x10xf32>) {
    %a = mesh.scatter %a0 : tensor<64x256xf32> -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %b = mesh.scatter %b0 : tensor<64x10x256xf32> -> !mesh.tensor<64x10x256xf32 on 64x64 split [r, _, c]>
    %c = mesh.scatter %c0 : tensor<64x10xf32> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %k = mesh.scatter %k0 : tensor<f32> -> !mesh.tensor<f32 on 64x64 split []>
    %0 = mesh.local_reduce sum %a dims [0] : !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %1 = mesh.allreduce sum %0 dims [0] algorithm tree : !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<1x256xf32 on 64x64 split [_, c]>
    %2 = mesh.reshape %1 : !mesh.tensor<1x256xf32 on 64x64 split [_, c]> -> !mesh.tensor<256xf32 on 64x64 split [c]>
    %3 = mesh.binary mul %k, %2 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<256xf32 on 64x64 split [c]> -> !mesh.tensor<256xf32 on 64x64 split [c]>
    %4 = mesh.local_reduce sum %b dims [0] : !mesh.tensor<64x10x256xf32 on 64x64 split [r, _, c]> -> !mesh.tensor<64x10x256xf32 on 64x64 split [r, _, c]>
    %5 = mesh.allreduce sum %4 dims [0] algorithm tree : !mesh.tensor<64x10x256xf32 on 64x64 split [r, _, c]> -> !mesh.tensor<1x10x256xf32 on 64x64 split [_, _, c]>
    %6 = mesh.reshape %5 : !mesh.tensor<1x10x256xf32 on 64x64 split [_, _, c]> -> !mesh.tensor<10x256xf32 on 64x64 split [_, c]>
    %7 = mesh.local_reduce sum %c dims [0] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %8 = mesh.allreduce sum %7 dims [0] algorithm tree : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<1x10xf32 on 64x64 split [_, _]>
    %9 = mesh.gather %3 : !mesh.tensor<256xf32 on 64x64 split [c]> -> tensor<256xf32>
    %10 = mesh.gather %6 : !mesh.tensor<10x256xf32 on 64x64 split [_, c]> -> tensor<10x256xf32>
    %11 = mesh.gather %8 : !mesh.tensor<1x10xf32 on 64x64 split [_, _]> -> tensor<1x10xf32>
    func.return %9, %10, %11 : tensor<256xf32>, tensor<10x256xf32>, tensor<1x10xf32>
  }

// CHECK-LABEL: func.func @main
// CHECK:         %1 = mesh.allreduce sum %0 dims [0] algorithm tree
// CHECK:         %4 = mesh.allreduce sum %3 dims [0] algorithm tree
// CHECK-NOT:     mesh.allreduce_group
  func.func @main(%a0: tensor<64xf32>) -> tensor<1xf32> {
    %a = mesh.scatter %a0 : tensor<64xf32> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %0 = mesh.local_reduce sum %a dims [0] : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %1 = mesh.allreduce sum %0 dims [0] algorithm tree : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<1xf32 on 64x64 split [_]>
    %2 = mesh.broadcast %1 : !mesh.tensor<1xf32 on 64x64 split [_]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %3 = mesh.binary mul %2, %a : !mesh.tensor<64xf32 on 64x64 split [r]>, !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %4 = mesh.allreduce sum %3 dims [0] algorithm tree : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<1xf32 on 64x64 split [_]>
    %5 = mesh.gather %4 : !mesh.tensor<1xf32 on 64x64 split [_]> -> tensor<1xf32>
    func.return %5 : tensor<1xf32>
  }
}
