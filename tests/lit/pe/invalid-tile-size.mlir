// XFAIL: *
// BUG (dialects/pe.py): pe.mask_pad and pe.random_normal do not check that their buffer holds a
// tile of their `layout` (pe.host_in, pe.host_out and pe.exchange do), so the ops below verify
// although they would write 16 elements into 4-element buffers.
// RUN: pyflame-opt %s --verify-diagnostics --split-input-file | filecheck %s

// CHECK: {{^}}mask_pad buffer too small
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
pe.mask_pad %a {layout = !mesh.tensor<7x8xf32 on 2x2 split [r, c]>, value = 0.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>

// -----

// CHECK: {{^}}random_normal buffer too small
%s = "test.op"() : () -> i64
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
pe.random_normal %a, %s {layout = !mesh.tensor<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>, i64
