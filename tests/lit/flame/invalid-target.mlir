// RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s

// The module's `pf.target` is a typed attribute, checked where it is written: it names a preset
// (WSE2, WSE3, small) and then only the figures that differ, or a name of its own with its
// figures. Each chunk below runs on its own (see Inputs/each-chunk.py).

// CHECK-LABEL: chunk 1
// CHECK:       invalid-target.mlir:[[# @LINE + 3]]:51: error: 'wse9' names no preset target (presets: WSE2, WSE3, SMALL); a custom target gives its figures too
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = #pf.target<"wse9">} {
}

// -----

// CHECK-LABEL: chunk 2
// CHECK:       invalid-target.mlir:[[# @LINE + 3]]:1: error: 'builtin.module' op 'pf.target' must be a #pf.target<...> naming a preset (WSE2, WSE3, SMALL) and then only the figures that differ from it, e.g. #pf.target<"small">, #pf.target<"WSE2", fabric_rows = 8, fabric_cols = 8>; got 5 : i64
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = 5 : i64} {
}

// -----

// CHECK-LABEL: chunk 3
// CHECK:       invalid-target.mlir:[[# @LINE + 2]]:60: error: unknown target figure 'colour' (known: fabric_rows, fabric_cols,
// CHECK:       exit status: 1
builtin.module attributes {pf.target = #pf.target<"small", colour = 3>} {
}

// -----

// CHECK-LABEL: chunk 4
// CHECK:       builtin.module attributes {pf.target = #pf.target<"custom", fabric_rows = 8, fabric_cols = 8, sram_bytes = 49152,
// CHECK:       exit status: 0
builtin.module attributes {pf.target = #pf.target<"custom", fabric_rows = 8, fabric_cols = 8>} {
}

// -----

// The old dictionary form is refused with the same target's new spelling.
// CHECK-LABEL: chunk 5
// CHECK:       invalid-target.mlir:[[# @LINE + 3]]:1: error: 'builtin.module' op 'pf.target' must be a #pf.target<...> {{.*}} e.g. #pf.target<"small", num_colors = 2>; got {name = "small", num_colors = 2 : i64}
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = {name = "small", num_colors = 2 : i64}} {
}

// -----

// A preset's figures print only where they differ; the name keeps its spelling.
// CHECK-LABEL: chunk 6
// CHECK:       builtin.module attributes {pf.target = #pf.target<"WSE2", fabric_rows = 8, fabric_cols = 8>}
// CHECK:       exit status: 0
builtin.module attributes {pf.target = #pf.target<"WSE2", fabric_cols = 8, fabric_rows = 8, num_colors = 21>} {
}

// -----

// CHECK-LABEL: chunk 7
// CHECK:       #pf.target: 'num_colors' must be positive, got 0
// CHECK:       exit status: 1
builtin.module attributes {pf.target = #pf.target<"small", num_colors = 0>} {
}
