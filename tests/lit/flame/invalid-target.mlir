// RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s

// The module's `pf.target` is checked where it is written: a dictionary of known fields that
// names a preset (WSE2, WSE3, SMALL) unless it gives figures of its own. Each chunk below runs
// on its own (see Inputs/each-chunk.py).

// CHECK-LABEL: chunk 1
// CHECK:       invalid-target.mlir:[[# @LINE + 3]]:1: error: 'builtin.module' op 'pf.target' names no preset target: "wse9" (presets: WSE2, WSE3, SMALL); a custom target gives its figures too
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = {name = "wse9"}} {
}

// -----

// CHECK-LABEL: chunk 2
// CHECK:       invalid-target.mlir:[[# @LINE + 3]]:1: error: 'builtin.module' op 'pf.target' must be a dictionary such as {name = "small"}, got 5 : i64
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = 5 : i64} {
}

// -----

// CHECK-LABEL: chunk 3
// CHECK:       invalid-target.mlir:[[# @LINE + 2]]:1: error: 'builtin.module' op 'pf.target': unknown target fields ['colour']
// CHECK:       exit status: 1
builtin.module attributes {pf.target = {name = "small", colour = 3 : i64}} {
}

// -----

// CHECK-LABEL: chunk 4
// CHECK:       builtin.module attributes {pf.target = {name = "custom", fabric_rows = 8 : i64, fabric_cols = 8 : i64}}
// CHECK:       exit status: 0
builtin.module attributes {pf.target = {name = "custom", fabric_rows = 8 : i64, fabric_cols = 8 : i64}} {
}
