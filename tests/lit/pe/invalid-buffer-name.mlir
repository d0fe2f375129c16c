// BUG (dialects/pe.py, PEOp._check_rect): the message formats the `name` StringAttr itself, so
// the buffer's name comes out with its IR quotes inside the message's quotes: `buffer '"a"'`.
// It should use `owner.buffer_name.data`.
// RUN: pyflame-opt %s --verify-diagnostics | filecheck %s

// CHECK: {{^}}'pe.fill' runs on PEs [1, 1, 2, 2] outside buffer 'a' (allocated on [0, 0, 2, 2])
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
pe.fill %a {value = 0.0 : f64, pes = array<i64: 1, 1, 2, 2>} : !pe.buf<4xf32>
