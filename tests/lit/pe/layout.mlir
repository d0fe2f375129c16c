// RUN: pyflame-opt %s --split-input-file | filecheck %s
// RUN: pyflame-opt %s --split-input-file --print-op-generic | pyflame-opt --split-input-file | filecheck %s

// The pe dialect's own tile layout, #pe.layout<...>, survives a print/parse round trip in
// every op that takes one (split over rows, cols, all PEs, not at all; a scalar).

// CHECK: pe.host_in %x, %a {layout = #pe.layout<8x6xf32 on 2x3 split [r, c]>, pes = array<i64: 0, 0, 2, 3>} : tensor<8x6xf32>, !pe.buf<8xf32>
// CHECK: pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x6xf32 on 2x3 split [r, c]>, dst_layout = #pe.layout<48xf32 on 2x3 split [rc]>, pes = array<i64: 0, 0, 2, 3>}
// CHECK: pe.mask_pad %c {layout = #pe.layout<5x6xf32 on 2x3 split [_, c]>, value = 0.000000e+00 : f64, pes = array<i64: 0, 0, 2, 3>}
// CHECK: pe.host_out %d {layout = #pe.layout<f32 on 1x1 split []>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32> -> tensor<f32>
func.func @main(%x: tensor<8x6xf32>) -> tensor<f32> {
  %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<8xf32>
  %b = pe.alloc {name = "b", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<8xf32>
  %c = pe.alloc {name = "c", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<30xf32>
  %d = pe.alloc {name = "d", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32>
  pe.host_in %x, %a {layout = #pe.layout<8x6xf32 on 2x3 split [r, c]>, pes = array<i64: 0, 0, 2, 3>} : tensor<8x6xf32>, !pe.buf<8xf32>
  pe.exchange %b, %a {color = 0 : i64, phase = 1 : i64, src_layout = #pe.layout<8x6xf32 on 2x3 split [r, c]>, dst_layout = #pe.layout<48xf32 on 2x3 split [rc]>, pes = array<i64: 0, 0, 2, 3>} : !pe.buf<8xf32>, !pe.buf<8xf32>
  pe.mask_pad %c {layout = #pe.layout<5x6xf32 on 2x3 split [_, c]>, value = 0.0 : f64, pes = array<i64: 0, 0, 2, 3>} : !pe.buf<30xf32>
  %o = pe.host_out %d {layout = #pe.layout<f32 on 1x1 split []>, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32> -> tensor<f32>
  func.return %o : tensor<f32>
}
