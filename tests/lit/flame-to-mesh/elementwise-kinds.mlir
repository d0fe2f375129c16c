// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s
// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory,mesh-to-pe | filecheck %s --check-prefix=PE

// A rank-0 scalar operand is one element per PE on the other operand's grid; comparisons give
// i1 tiles; where and convert are tile-wise.

// CHECK:      %[[A:.*]] = mesh.scatter %a : tensor<8x8xf32> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
// CHECK-NEXT: %[[S:.*]] = mesh.fill 5.000000e-01 : !mesh.tensor<f32 on 2x2 split []>
// CHECK-NEXT: %[[C:.*]] = mesh.binary gt %[[A]], %[[S]] : !mesh.tensor<8x8xf32 on 2x2 split [r, c]>, !mesh.tensor<f32 on 2x2 split []> -> !mesh.tensor<8x8xi1 on 2x2 split [r, c]>
// CHECK-NEXT: %[[W:.*]] = mesh.select %[[C]], %[[A]], %[[S]] : !mesh.tensor<8x8xi1 on 2x2 split [r, c]>, !mesh.tensor<8x8xf32 on 2x2 split [r, c]>, !mesh.tensor<f32 on 2x2 split []> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
// CHECK-NEXT: %[[H:.*]] = mesh.convert %[[W]] : !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf16 on 2x2 split [r, c]>
// CHECK-NEXT: %[[E:.*]] = mesh.unary exp %[[H]] : !mesh.tensor<8x8xf16 on 2x2 split [r, c]>

// At pe, fuse-elementwise makes the chain one pe.fused, the scalar a constant in it (the
// unfused ops: test_fuse_elementwise.py and the lit tests of fuse-elementwise).
// PE-NOT:  pe.fill
// PE:      pe.fused %{{.*}}, %{{.*}} expr "gt.i1($0, 0.5:f32); select.f32(%0, $0, 0.5:f32); convert.f16(%1); exp.f16(%2)" {{.*}} : !pe.buf<16xf16>, !pe.buf<16xf32>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<8x8xf32> {flame.layout = #flame.layout<grid [2, 2]>}) -> tensor<8x8xf16> {
    %s = flame.fill {value = 0.5 : f64} : tensor<f32>
    %c = flame.gt %a, %s : (tensor<8x8xf32>, tensor<f32>) -> tensor<8x8xi1>
    %w = flame.where %c, %a, %s : (tensor<8x8xi1>, tensor<8x8xf32>, tensor<f32>) -> tensor<8x8xf32>
    %h = flame.convert %w : tensor<8x8xf32> -> tensor<8x8xf16>
    %e = flame.exp %h : tensor<8x8xf16> -> tensor<8x8xf16>
    func.return %e : tensor<8x8xf16>
  }
}
