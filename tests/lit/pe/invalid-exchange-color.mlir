// BUG (dialects/pe.py, ExchangeOp.verify_): it overrides _ChannelOp.verify_ without calling it,
// so a pe.exchange with a negative color verifies (pe.send, pe.recv and pe.route reject one).
// RUN: pyflame-opt %s --verify-diagnostics | filecheck %s

// CHECK: {{^}}color must not be negative
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
%b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
pe.exchange %b, %a {color = -1 : i64, phase = 1 : i64, src_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [c, r]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>, !pe.buf<16xf32>
