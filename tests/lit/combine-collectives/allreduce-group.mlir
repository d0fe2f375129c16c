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
// one buffer of 54 values per PE; each operand is made straight into its window of it (the
// local reduces write there: nothing is copied in), one reduction of the whole buffer (the
// tree's chains, then the root's multicast back), and each result is its operand's window
// (nothing is copied out)
// PE:         %[[P:[0-9]+]] = pe.alloc {name = "allreduce_group", pes = array<i64: 0, 0, 64, 64>} : !pe.buf<54xf32>
// PE-NEXT:    %[[A:[0-9]+]] = pe.alloc in %[[P]] : !pe.buf<54xf32> at 0 {name = "partial", pes = array<i64: 0, 0, 64, 64>} : !pe.buf<4xf32>
// PE-NEXT:    pe.reduce sum %[[A]], %0
// PE-NEXT:    %[[B:[0-9]+]] = pe.alloc in %[[P]] : !pe.buf<54xf32> at 4 {name = "partial", pes = array<i64: 0, 0, 64, 64>} : !pe.buf<40xf32>
// PE-NEXT:    pe.reduce sum %[[B]], %1
// PE-NEXT:    %[[C:[0-9]+]] = pe.alloc in %[[P]] : !pe.buf<54xf32> at 44 {name = "partial", pes = array<i64: 0, 0, 64, 64>} : !pe.buf<10xf32>
// PE-NEXT:    pe.reduce sum %[[C]], %2
// PE-NOT:     pe.unpack
// PE:         pe.recv %[[P]] combine sum forward
// PE:         pe.send %[[P]] {pes = array<i64: 31, 0, 1, 64>, color = 4 : i64} : !pe.buf<54xf32>
// PE-NOT:     pe.pack
// PE:         pe.binary mul %{{[0-9]+}}, %3, %[[A]]
// PE:         pe.host_out %[[B]]
// PE-NEXT:    pe.host_out %[[C]]
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
