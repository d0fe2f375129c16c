// RUN: pyflame-opt %s -p flame-to-mesh,mesh-to-pe --print-ir-after-all 2>&1 >/dev/null | filecheck %s
// RUN: pyflame-opt %s -p flame-to-mesh,mesh-to-pe --print-ir-after-all 2>/dev/null | filecheck %s --check-prefix=OUT

// --print-ir-after-all prints the module to stderr after every pass of the pipeline, under an
// MLIR-style banner; stdout still gets only the final module.

// CHECK:      IR Dump After flame-to-mesh
// CHECK-NEXT: builtin.module attributes {pf.target = {name = "small"}} {
// CHECK:        mesh.scatter %a : tensor<10x12xf32> -> !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK:        mesh.allreduce
// CHECK-NOT:    pe.
// CHECK:      IR Dump After mesh-to-pe
// CHECK-NEXT: builtin.module attributes {pf.target = {name = "small"}} {
// CHECK:        pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>, offset = 0 : i64} : !pe.buf<9xf32>
// CHECK:        pe.host_out
// CHECK-NOT:    IR Dump

// OUT-NOT:    IR Dump
// OUT:        pe.alloc
// OUT-NOT:    mesh.{{[a-z_]+ }}

builtin.module attributes {pf.target = {name = "small"}} {
  func.func @main(%a: tensor<10x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<12xf32> {
    %0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<10x12xf32> -> tensor<12xf32>
    func.return %0 : tensor<12xf32>
  }
}
