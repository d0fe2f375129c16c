// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mask_pad writes its input's buffer in place when it is that value's only use; otherwise it
// masks a copy, so the other users still see the unmasked tile.

builtin.module attributes {pf.target = #pf.target<"small">} {

// CHECK-LABEL: func.func @only_use
// CHECK-NEXT:    %[[X:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<9xf32>
// CHECK-NEXT:    pe.host_in %a, %[[X]]
// CHECK-NEXT:    pe.mask_pad %[[X]] {pes = array<i64: 0, 0, 4, 4>, layout = #pe.layout<10x12xf32 on 4x4 split [r, c]>, value = 0.000000e+00 : f64} : !pe.buf<9xf32>
// CHECK-NEXT:    pe.host_out %[[X]]
// CHECK-NOT:     pe.copy
  func.func @only_use(%a: tensor<10x12xf32>) -> tensor<10x12xf32> {
    %0 = mesh.scatter %a : tensor<10x12xf32> -> !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
    %1 = mesh.mask_pad %0 value 0.0 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> tensor<10x12xf32>
    func.return %2 : tensor<10x12xf32>
  }

// CHECK-LABEL: func.func @shared
// CHECK-NEXT:    %[[Y:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<9xf32>
// CHECK-NEXT:    pe.host_in %a, %[[Y]]
// CHECK-NEXT:    %[[M:.*]] = pe.alloc {name = "masked", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<9xf32>
// CHECK-NEXT:    pe.copy %[[M]], %[[Y]] {pes = array<i64: 0, 0, 4, 4>} : !pe.buf<9xf32>, !pe.buf<9xf32>
// CHECK-NEXT:    pe.mask_pad %[[M]] {pes = array<i64: 0, 0, 4, 4>, layout = #pe.layout<10x12xf32 on 4x4 split [r, c]>, value = 1.000000e+00 : f64} : !pe.buf<9xf32>
// CHECK-NEXT:    pe.host_out %[[M]]
// CHECK-NEXT:    pe.host_out %[[Y]]
  func.func @shared(%a: tensor<10x12xf32>) -> (tensor<10x12xf32>, tensor<10x12xf32>) {
    %0 = mesh.scatter %a : tensor<10x12xf32> -> !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
    %1 = mesh.mask_pad %0 value 1.0 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> tensor<10x12xf32>
    %3 = mesh.gather %0 : !mesh.tensor<10x12xf32 on 4x4 split [r, c]> -> tensor<10x12xf32>
    func.return %2, %3 : tensor<10x12xf32>, tensor<10x12xf32>
  }
}
