// RUN: pyflame-opt %s -p lower-to-mesh,mesh-to-pe --print-ir-after-all 2>&1 >/dev/null | filecheck %s
// RUN: pyflame-opt %s -p lower-to-mesh,mesh-to-pe --print-ir-after-all 2>/dev/null | filecheck %s --check-prefix=OUT

// --print-ir-after-all prints the module to stderr after every pass of the pipeline, under an
// MLIR-style banner; stdout still gets only the final module. The named pipelines expand to
// every step pf.eval runs, so each shows: no pass runs another inside itself.

// CHECK:      IR Dump After decompose
// CHECK-NEXT: builtin.module attributes {pf.target = #pf.target<"small">} {
// CHECK:        flame.reduce_sum
// CHECK:      IR Dump After plan-placement
// CHECK-NEXT: builtin.module attributes {pf.target = #pf.target<"small">, pf.placement = #pf.placement<single_pe_bytes = 16384>} {
// CHECK:        flame.reduce_sum
// CHECK:      IR Dump After flame-to-mesh
// CHECK-NEXT: builtin.module attributes {pf.target = #pf.target<"small">, pf.placement = #pf.placement<single_pe_bytes = 16384>} {
// CHECK:        mesh.scatter %a : tensor<10x12xf32> -> !mesh.tensor<10x12xf32 on 4x4 split [r, c]>
// CHECK:        mesh.reduce
// CHECK-NOT:    pe.
// CHECK:      IR Dump After plan-memory
// CHECK:        mesh.reduce
// CHECK:      IR Dump After lower-mesh-to-pe
// CHECK:        pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<9xf32>
// CHECK:        pe.send {{.*}}color = 0 : i64
// CHECK:      IR Dump After allocate-colors
// CHECK:        pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<9xf32>
// CHECK:      IR Dump After allocate-sram
// CHECK:        pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>, offset = 0 : i64} : !pe.buf<9xf32>
// CHECK:        pe.host_out
// CHECK-NOT:    IR Dump

// OUT-NOT:    IR Dump
// OUT:        pe.alloc
// OUT-NOT:    mesh.{{[a-z_]+ }}

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<10x12xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<12xf32> {
    %0 = flame.reduce_sum %a {dims = array<i64: 0>} : tensor<10x12xf32> -> tensor<12xf32>
    func.return %0 : tensor<12xf32>
  }
}
