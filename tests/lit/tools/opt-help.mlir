// RUN: pyflame-opt --help | filecheck %s
// RUN: pyflame-opt %s | filecheck %s --check-prefix=ROUNDTRIP

// --help lists the pipeline's 11 passes first (PyFlame's 10 and xDSL's cse), in pipeline order,
// then unroll-pe-loops (outside the pipeline), above the options; xDSL's other generic passes come after them in the -p option, and -t
// offers only mlir.

// CHECK:      PyFlame modular optimizer driver
// CHECK:      PyFlame's passes (-p NAME[,NAME...]), in pipeline order:
// CHECK-NEXT:   decompose         Fold ops on zero-size tensors
// CHECK:        cse               xDSL's common-subexpression elimination
// CHECK:        assign-layouts    Choose every tensor's grid and split
// CHECK:        place-on-fabric   Move independent products
// CHECK:        plan-placement    Choose the single-PE budget
// CHECK:        flame-to-mesh     Lower flame to mesh
// CHECK:        plan-memory       Check that
// CHECK-NEXT:   choose-matmuls    Choose each matmul's algorithm
// CHECK:        choose-collectives Choose the collectives' algorithms
// CHECK:        combine-collectives Pack independent allreduces over the same mesh axes into one.
// CHECK-NEXT:   lower-mesh-to-pe  Lower mesh ops to pe
// CHECK-NEXT:   fuse-elementwise  Fuse chains of tile-local elementwise pe ops
// CHECK:        allocate-colors   Assign physical routing colors; barriers order route switches
// CHECK-NEXT:   allocate-sram     Assign SRAM offsets
// CHECK:        unroll-pe-loops   Spell every pe.loop out
// CHECK:      Named pipelines (-p NAME, expanded to their passes):
// CHECK-NEXT:   lower-to-mesh     decompose,canonicalize,cse,assign-layouts,place-on-fabric,plan-placement,flame-to-mesh,plan-memory,choose-matmuls,choose-collectives
// CHECK-NEXT:   mesh-to-pe        combine-collectives,lower-mesh-to-pe,fuse-elementwise,allocate-colors,allocate-sram
// CHECK:      options:
// CHECK:      -t TARGET, --target TARGET
// CHECK-NEXT:   Output format: mlir (PyFlame's IR as MLIR text;
// CHECK:      -p PASSES, --passes PASSES
// CHECK-NEXT:   Comma-separated pass pipeline. PyFlame's passes
// CHECK:        xDSL's {{[0-9]+}}
// CHECK:        generic passes
// CHECK:      --print-ir-after-all

// ROUNDTRIP: func.func @f(%a: i32) -> i32
func.func @f(%a: i32) -> i32 {
  func.return %a : i32
}
