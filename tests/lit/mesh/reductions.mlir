// RUN: pyflame-opt %s | pyflame-opt | filecheck %s
// RUN: pyflame-opt %s --print-op-generic | pyflame-opt | filecheck %s

// local_reduce and allreduce take every kind of pyflame/core/reductions.py (sum, prod, max, min);
// padding is masked with the kind's identity first, -inf for a float max (printed in hex) or
// the largest int32 for an integer min (2147483647.0, printed in hex to stay exact).

// CHECK-LABEL: func.func @kinds(%a: !mesh.tensor<10x12xf32 on 4x4 split [r, c]>, %i: !mesh.tensor<10x12xi32 on 4x4 split [r, c]>)
// CHECK-NEXT:    %0 = mesh.mask_pad %a value 0xfff0000000000000 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %1 = mesh.local_reduce max %0 dims [0] : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x12xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %2 = mesh.allreduce max %1 dims [0] : !mesh.tensor<4x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
// CHECK-NEXT:    %3 = mesh.mask_pad %i value 0x41DFFFFFFFC00000 : !mesh.tensor<10x12xi32 on 4x4 split [r, c]>
// CHECK-NEXT:    %4 = mesh.local_reduce min %3 dims [0, 1] : !mesh.tensor<10x12xi32 on 4x4 split [r, c]> -> !mesh.tensor<4x4xi32 on 4x4 split [r, c]>
// CHECK-NEXT:    %5 = mesh.allreduce min %4 dims [0, 1] : !mesh.tensor<4x4xi32 on 4x4 split [r, c]> -> !mesh.tensor<1x1xi32 on 4x4 split [_, _]>
// CHECK-NEXT:    %6 = mesh.local_reduce prod %a dims [1] : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<10x4xf32 on 4x4 split [r, c]>
// CHECK-NEXT:    %7 = mesh.allreduce prod %6 dims [1] : !mesh.tensor<10x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<10x1xf32 on 4x4 split [r, _]>
func.func @kinds(%a: !mesh.tensor<10x12xf32 on 4x4 split [r, c]>, %i: !mesh.tensor<10x12xi32 on 4x4 split [r, c]>) {
  %0 = mesh.mask_pad %a value 0xFFF0000000000000 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
  %1 = mesh.local_reduce max %0 dims [0] : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x12xf32 on 4x4 split [r, c]>
  %2 = mesh.allreduce max %1 dims [0] : !mesh.tensor<4x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<1x12xf32 on 4x4 split [_, c]>
  %3 = mesh.mask_pad %i value 2147483647.0 : !mesh.tensor<10x12xi32 on 4x4 split [r, c]>
  %4 = mesh.local_reduce min %3 dims [0, 1] : !mesh.tensor<10x12xi32 on 4x4 split [r, c]> -> !mesh.tensor<4x4xi32 on 4x4 split [r, c]>
  %5 = mesh.allreduce min %4 dims [0, 1] : !mesh.tensor<4x4xi32 on 4x4 split [r, c]> -> !mesh.tensor<1x1xi32 on 4x4 split [_, _]>
  %6 = mesh.local_reduce prod %a dims [1] : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<10x4xf32 on 4x4 split [r, c]>
  %7 = mesh.allreduce prod %6 dims [1] : !mesh.tensor<10x4xf32 on 4x4 split [r, c]> -> !mesh.tensor<10x1xf32 on 4x4 split [r, _]>
  func.return
}
