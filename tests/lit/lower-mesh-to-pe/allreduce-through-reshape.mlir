// BUG (passes/lower_mesh_to_pe.py, PELowering.writable_copy): "only use" is decided on the mesh
// value, but a mesh.reshape result shares its input's buffer. Here %r (a reshape of %p) has one
// use, so the allreduce sums in place in %p's buffer, and the later gather of %p reads the
// reduced values. A copy is needed whenever the *buffer* has other users (the same holds for
// mask_pad, harmlessly, since it only writes padding).
// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// CHECK:      %[[P:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<3xf32>
// CHECK:      %[[W:.*]] = pe.alloc {{.*}} : !pe.buf<3xf32>
// CHECK-NEXT: pe.copy %[[W]], %[[P]]
// CHECK-NOT:  pe.send %[[P]]
// CHECK:      pe.host_out %[[P]] {layout = #pe.layout<4x12xf32 on 4x4 split [r, c]>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @alias(%a: tensor<4x12xf32>) -> (tensor<1x1x12xf32>, tensor<4x12xf32>) {
    %p = mesh.scatter %a : tensor<4x12xf32> -> !mesh.tensor<4x12xf32 on 4x4 split [r, c]>
    %r = mesh.reshape %p : !mesh.tensor<4x12xf32 on 4x4 split [r, c]> -> !mesh.tensor<4x1x12xf32 on 4x4 split [r, _, c]>
    %q = mesh.allreduce sum %r dims [0] : !mesh.tensor<4x1x12xf32 on 4x4 split [r, _, c]> -> !mesh.tensor<1x1x12xf32 on 4x4 split [_, _, c]>
    %g = mesh.gather %q : !mesh.tensor<1x1x12xf32 on 4x4 split [_, _, c]> -> tensor<1x1x12xf32>
    %h = mesh.gather %p : !mesh.tensor<4x12xf32 on 4x4 split [r, c]> -> tensor<4x12xf32>
    func.return %g, %h : tensor<1x1x12xf32>, tensor<4x12xf32>
  }
}
