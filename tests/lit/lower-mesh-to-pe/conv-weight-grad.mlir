// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.conv2d_weight_grad: each PE's partial weight gradient, from its input window (the halo
// exchange of mesh.conv2d) and its block of the output gradient.

builtin.module attributes {pf.target = #pf.target<"small">} {

// Spatial (2x2): the halo exchange of conv2d's spatial form (rows, then columns), then one
// pe.conv2d_weight_grad per PE into its whole [O, C, kh, kw] = 3x2x3x3 partial: per (o, c, tap)
// a dot product of the grad block (1x3x2x2) with the window's taps (1x2x4x4).
// CHECK-LABEL: func.func @spatial
// CHECK:         %[[DY:[0-9]+]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK:         %[[P:[0-9]+]] = pe.alloc {name = "conv2d_weight_grad", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<54xf32>
// CHECK:         %[[ROWS:[0-9]+]] = pe.alloc {name = "halo_rows"
// CHECK:         %[[COLS:[0-9]+]] = pe.alloc {name = "halo_cols", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>
// CHECK:         pe.conv2d_weight_grad %[[P]], %[[COLS]], %[[DY]] {pes = array<i64: 0, 0, 2, 2>, in_shape = array<i64: 1, 2, 4, 4>, out_shape = array<i64: 1, 3, 2, 2>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : !pe.buf<54xf32>, !pe.buf<32xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    pe.host_out %[[P]]
  func.func @spatial(%x: tensor<1x2x4x4xf32>, %dy: tensor<1x3x4x4xf32>) -> tensor<2x2x3x2x3x3xf32> {
    %0 = mesh.scatter %x : tensor<1x2x4x4xf32> -> !mesh.tensor<1x2x4x4xf32 on 2x2 split [_, _, r, c]>
    %1 = mesh.scatter %dy : tensor<1x3x4x4xf32> -> !mesh.tensor<1x3x4x4xf32 on 2x2 split [_, _, r, c]>
    %2 = mesh.conv2d_weight_grad %0, %1 kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x2x4x4xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<1x3x4x4xf32 on 2x2 split [_, _, r, c]>) -> !mesh.tensor<2x2x3x2x3x3xf32 on 2x2 split [r, c, _, _, _, _]>
    %3 = mesh.gather %2 : !mesh.tensor<2x2x3x2x3x3xf32 on 2x2 split [r, c, _, _, _, _]> -> tensor<2x2x3x2x3x3xf32>
    func.return %3 : tensor<2x2x3x2x3x3xf32>
  }

// Channel-split (2x2, one input and one output channel per PE column): every PE makes its
// channel's window once (rows halo, W's padding), then one step per input channel as the
// channel-split conv2d: the owner column multicasts the window along the rows (async, a
// channel and receive buffer per parity), every PE computes its filter's 3x3 taps for that
// channel into a step buffer and unpacks them at the channel's place in its [1, 2, 3, 3]
// partial.
// CHECK-LABEL: func.func @channel_split
// CHECK:         pe.host_in %x
// CHECK-NEXT:    %[[DY:[0-9]+]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xf32>
// CHECK:         %[[P:[0-9]+]] = pe.alloc {name = "conv2d_weight_grad", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<18xf32>
// CHECK:         %[[WIN:[0-9]+]] = pe.alloc {name = "halo_cols", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<28xf32>
// CHECK:         pe.route ramp -> [east, ramp] {color = [[C0:[0-9]+]] : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK:         pe.route ramp -> [east, ramp] {color = [[C1:[0-9]+]] : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK:         %[[R0:[0-9]+]] = pe.alloc {name = "wgrad_recv0", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<28xf32>
// CHECK-NEXT:    %[[R1:[0-9]+]] = pe.alloc {name = "wgrad_recv1", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<28xf32>
// CHECK-NEXT:    %[[STEP:[0-9]+]] = pe.alloc {name = "wgrad_step", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
// CHECK-NEXT:    %[[S0:[0-9]+]] = pe.send %[[WIN]] {pes = array<i64: 0, 0, 2, 1>, color = [[C0]] : i64} : !pe.buf<28xf32> -> !pe.token
// CHECK-NEXT:    %[[G0:[0-9]+]] = pe.recv %[[R0]] {pes = array<i64: 0, 0, 2, 2>, color = [[C0]] : i64} : !pe.buf<28xf32> -> !pe.token
// CHECK-NEXT:    pe.wait %[[G0]] {pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    %[[S1:[0-9]+]] = pe.send %[[WIN]] {pes = array<i64: 0, 1, 2, 1>, color = [[C1]] : i64} : !pe.buf<28xf32> -> !pe.token
// CHECK-NEXT:    %[[G1:[0-9]+]] = pe.recv %[[R1]] {pes = array<i64: 0, 0, 2, 2>, color = [[C1]] : i64} : !pe.buf<28xf32> -> !pe.token
// CHECK-NEXT:    pe.conv2d_weight_grad %[[STEP]], %[[R0]], %[[DY]] {pes = array<i64: 0, 0, 2, 2>, in_shape = array<i64: 1, 1, 4, 7>, out_shape = array<i64: 1, 1, 2, 5>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : !pe.buf<9xf32>, !pe.buf<28xf32>, !pe.buf<10xf32>
// CHECK-NEXT:    pe.unpack %[[P]], %[[STEP]] along r {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 1, 2, 3, 3>, dim = 1 : i64, count = 1 : i64, at = array<i64: 0, 0>} : !pe.buf<18xf32>, !pe.buf<9xf32>
// CHECK-NEXT:    pe.wait %[[G1]] {pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.wait %[[S0]] {pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.conv2d_weight_grad %[[STEP]], %[[R1]], %[[DY]]
// CHECK-NEXT:    pe.unpack %[[P]], %[[STEP]] along r {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 1, 2, 3, 3>, dim = 1 : i64, count = 1 : i64, at = array<i64: 1, 0>} : !pe.buf<18xf32>, !pe.buf<9xf32>
// CHECK-NEXT:    pe.wait %[[S1]] {pes = array<i64: 0, 1, 2, 1>}
  func.func @channel_split(%x: tensor<1x2x4x5xf32>, %dy: tensor<1x2x4x5xf32>) -> tensor<2x2x2x3x3xf32> {
    %0 = mesh.scatter %x : tensor<1x2x4x5xf32> -> !mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>
    %1 = mesh.scatter %dy : tensor<1x2x4x5xf32> -> !mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>
    %2 = mesh.conv2d_weight_grad %0, %1 kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>, !mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>) -> !mesh.tensor<2x2x2x3x3xf32 on 2x2 split [r, c, _, _, _]>
    %3 = mesh.gather %2 : !mesh.tensor<2x2x2x3x3xf32 on 2x2 split [r, c, _, _, _]> -> tensor<2x2x2x3x3xf32>
    func.return %3 : tensor<2x2x2x3x3xf32>
  }
}
