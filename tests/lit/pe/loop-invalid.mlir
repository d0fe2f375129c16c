// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// pe.loop's verifier: bounds, rectangles at every iteration, tokens that nothing joins.

// CHECK: pe.loop runs from 3 to 3: no iteration
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
pe.loop %k = 3 to 3 {
  pe.fill %a {value = 0.0 : f64, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<4xf32>
  pe.yield
}

// -----

// CHECK: 'pe.fill' runs on PEs [0, 4, 4, 1] outside buffer 'a' (allocated on [0, 0, 4, 4]) at the loop's last iteration
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
pe.loop %k = 0 to 5 {
  pe.fill %a {value = 0.0 : f64, pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>} : !pe.buf<4xf32>
  pe.yield
}

// -----

// CHECK: pes [0, 3, 4, 1] + i * pes_step [0, -1, 0, 0] leaves the fabric at the loop's last iteration: [0, -1, 4, 1]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
pe.loop %k = 0 to 5 {
  pe.fill %a {value = 0.0 : f64, pes = array<i64: 0, 3, 4, 1>, pes_step = array<i64: 0, -1, 0, 0>} : !pe.buf<4xf32>
  pe.yield
}

// -----

// CHECK: pes_step is only meaningful inside a pe.loop
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
pe.fill %a {value = 0.0 : f64, pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>} : !pe.buf<4xf32>

// -----

// CHECK: the token of 'pe.send' (op #0 of the loop's body) is neither waited for in the body nor yielded to the next iteration
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
pe.loop %k = 0 to 4 {
  %t = pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>} : !pe.buf<4xf32> -> !pe.token
  pe.yield
}

// -----

// CHECK: carried token #0 of pe.loop is never waited for in the body
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
%t0 = pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<4xf32> -> !pe.token
%r = pe.loop %k = 0 to 3 iter_args(%c = %t0) -> (!pe.token) {
  %t = pe.send %a {color = 0 : i64, pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>} : !pe.buf<4xf32> -> !pe.token
  pe.yield %t
}
pe.wait %r {pes = array<i64: 0, 3, 4, 1>}

// -----

// CHECK: result #0 of pe.loop (the last iteration's token) is never waited for
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
%t0 = pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<4xf32> -> !pe.token
%r = pe.loop %k = 0 to 3 iter_args(%c = %t0) -> (!pe.token) {
  pe.wait %c {pes = array<i64: 0, 0, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>}
  %t = pe.send %a {color = 0 : i64, pes = array<i64: 0, 1, 4, 1>, pes_step = array<i64: 0, 1, 0, 0>} : !pe.buf<4xf32> -> !pe.token
  pe.yield %t
}

// -----

// CHECK: 'pe.alloc' cannot be inside a pe.loop: allocate buffers before the loop
pe.loop %k = 0 to 3 {
  %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
  pe.yield
}

// -----

// CHECK: pe.yield gives 0 tokens, but the loop carries 1
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<4xf32>
%t0 = pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<4xf32> -> !pe.token
%r = pe.loop %k = 0 to 3 iter_args(%c = %t0) -> (!pe.token) {
  pe.wait %c {pes = array<i64: 0, 0, 4, 1>}
  pe.yield
}
pe.wait %r {pes = array<i64: 0, 0, 4, 1>}
