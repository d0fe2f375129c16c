// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.conv2d and mesh.pool2d: a halo exchange between neighbouring PEs (pe.pack, an asynchronous pe.send,
// pe.recv, pe.unpack on shift routes, pe.wait for the sends), then one local pe.conv2d / pe.pool2d per PE.

builtin.module attributes {pf.target = #pf.target<"small">} {

// conv2d on 2x2 with padding 1: per axis a window buffer (zero-filled), the last row
// (column) of every tile packed and sent south (east) and the first sent north (west) on
// four one-hop shift channels, the own tile and both received strips unpacked into the
// window; the columns phase works on the rows phase's window, so the corners travel in two
// hops. Then one pe.conv2d per PE on the 6x6 window.
// CHECK-LABEL: func.func @conv
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<48xf32>
// CHECK-NEXT:    pe.host_in %x, %0 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<1x3x8x8xf32 on 2x2 split [_, _, r, c]>} : tensor<1x3x8x8xf32>, !pe.buf<48xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>
// CHECK-NEXT:    pe.host_in %w, %1 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<4x3x3x3xf32 on 2x2 split [_, _, _, _]>} : tensor<4x3x3x3xf32>, !pe.buf<108xf32>
// CHECK-NEXT:    %2 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.host_in %b, %2 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<4xf32 on 2x2 split [_]>} : tensor<4xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %3 = pe.alloc {name = "halo_rows", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<72xf32>
// CHECK-NEXT:    pe.fill %3 {pes = array<i64: 0, 0, 2, 2>, value = 0.000000e+00 : f64} : !pe.buf<72xf32>
// CHECK-NEXT:    %4 = pe.alloc {name = "halo_to_south", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.pack %4, %0 {pes = array<i64: 0, 0, 1, 2>, shape = array<i64: 1, 3, 4, 4>, dim = 2 : i64, start = 3 : i64, count = 1 : i64} : !pe.buf<12xf32>, !pe.buf<48xf32>
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    %5 = pe.send %4 {pes = array<i64: 0, 0, 1, 2>, color = 0 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %6 = pe.alloc {name = "halo_to_north", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.pack %6, %0 {pes = array<i64: 1, 0, 1, 2>, shape = array<i64: 1, 3, 4, 4>, dim = 2 : i64, start = 0 : i64, count = 1 : i64} : !pe.buf<12xf32>, !pe.buf<48xf32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    %7 = pe.send %6 {pes = array<i64: 1, 0, 1, 2>, color = 1 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    pe.unpack %3, %0 along r {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 1, 3, 6, 4>, dim = 2 : i64, count = 4 : i64, at = array<i64: 1, 0>} : !pe.buf<72xf32>, !pe.buf<48xf32>
// CHECK-NEXT:    %8 = pe.alloc {name = "halo_from_south", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.recv %8 {pes = array<i64: 1, 0, 1, 2>, color = 0 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.unpack %3, %8 along r {pes = array<i64: 1, 0, 1, 2>, shape = array<i64: 1, 3, 6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 0, 0>} : !pe.buf<72xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    %9 = pe.alloc {name = "halo_from_north", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.recv %9 {pes = array<i64: 0, 0, 1, 2>, color = 1 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.unpack %3, %9 along r {pes = array<i64: 0, 0, 1, 2>, shape = array<i64: 1, 3, 6, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 5, 0>} : !pe.buf<72xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    pe.wait %5 {pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.wait %7 {pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    %10 = pe.alloc {name = "halo_cols", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<108xf32>
// CHECK-NEXT:    pe.fill %10 {pes = array<i64: 0, 0, 2, 2>, value = 0.000000e+00 : f64} : !pe.buf<108xf32>
// CHECK-NEXT:    %11 = pe.alloc {name = "halo_to_east", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<18xf32>
// CHECK-NEXT:    pe.pack %11, %3 {pes = array<i64: 0, 0, 2, 1>, shape = array<i64: 1, 3, 6, 4>, dim = 3 : i64, start = 3 : i64, count = 1 : i64} : !pe.buf<18xf32>, !pe.buf<72xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 2 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 2 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    %12 = pe.send %11 {pes = array<i64: 0, 0, 2, 1>, color = 2 : i64} : !pe.buf<18xf32> -> !pe.token
// CHECK-NEXT:    %13 = pe.alloc {name = "halo_to_west", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<18xf32>
// CHECK-NEXT:    pe.pack %13, %3 {pes = array<i64: 0, 1, 2, 1>, shape = array<i64: 1, 3, 6, 4>, dim = 3 : i64, start = 0 : i64, count = 1 : i64} : !pe.buf<18xf32>, !pe.buf<72xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 3 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 3 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    %14 = pe.send %13 {pes = array<i64: 0, 1, 2, 1>, color = 3 : i64} : !pe.buf<18xf32> -> !pe.token
// CHECK-NEXT:    pe.unpack %10, %3 along c {pes = array<i64: 0, 0, 2, 2>, shape = array<i64: 1, 3, 6, 6>, dim = 3 : i64, count = 4 : i64, at = array<i64: 1, 0>} : !pe.buf<108xf32>, !pe.buf<72xf32>
// CHECK-NEXT:    %15 = pe.alloc {name = "halo_from_east", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<18xf32>
// CHECK-NEXT:    pe.recv %15 {pes = array<i64: 0, 1, 2, 1>, color = 2 : i64} : !pe.buf<18xf32>
// CHECK-NEXT:    pe.unpack %10, %15 along c {pes = array<i64: 0, 1, 2, 1>, shape = array<i64: 1, 3, 6, 6>, dim = 3 : i64, count = 1 : i64, at = array<i64: 0, 0>} : !pe.buf<108xf32>, !pe.buf<18xf32>
// CHECK-NEXT:    %16 = pe.alloc {name = "halo_from_west", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<18xf32>
// CHECK-NEXT:    pe.recv %16 {pes = array<i64: 0, 0, 2, 1>, color = 3 : i64} : !pe.buf<18xf32>
// CHECK-NEXT:    pe.unpack %10, %16 along c {pes = array<i64: 0, 0, 2, 1>, shape = array<i64: 1, 3, 6, 6>, dim = 3 : i64, count = 1 : i64, at = array<i64: 5, 0>} : !pe.buf<108xf32>, !pe.buf<18xf32>
// CHECK-NEXT:    pe.wait %12 {pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.wait %14 {pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    %17 = pe.alloc {name = "conv2d", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32>
// CHECK-NEXT:    pe.conv2d %17, %10, %1, %2 {pes = array<i64: 0, 0, 2, 2>, in_shape = array<i64: 1, 3, 6, 6>, out_shape = array<i64: 1, 4, 4, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : !pe.buf<64xf32>, !pe.buf<108xf32>, !pe.buf<108xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    %18 = pe.host_out %17 {layout = #pe.layout<1x4x8x8xf32 on 2x2 split [_, _, r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<64xf32> -> tensor<1x4x8x8xf32>
// CHECK-NEXT:    func.return %18 : tensor<1x4x8x8xf32>
  func.func @conv(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x8x8xf32> {
    %0 = mesh.scatter %x : tensor<1x3x8x8xf32> -> !mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>
    %1 = mesh.scatter %w : tensor<4x3x3x3xf32> -> !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>
    %2 = mesh.scatter %b : tensor<4xf32> -> !mesh.tensor<4xf32 on 2x2 split [_]>
    %3 = mesh.conv2d %0, %1, %2 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x3x8x8xf32 on 2x2 split [_, _, r, c]>, !mesh.tensor<4x3x3x3xf32 on 2x2 split [_, _, _, _]>, !mesh.tensor<4xf32 on 2x2 split [_]>) -> !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]>
    %4 = mesh.gather %3 : !mesh.tensor<1x4x8x8xf32 on 2x2 split [_, _, r, c]> -> tensor<1x4x8x8xf32>
    func.return %4 : tensor<1x4x8x8xf32>
  }

// 13 rows over 4 PEs (blocks of 4), 11 output rows (blocks of 3): PE k's window starts at
// row 3k, so the own block and the strips land one row further down the window per PE row
// (`at = [base, 1]`); each PE needs up to 3 rows from the PE above and 1 from the one below.
// The columns are not split and need no halo: the rows window is the conv's input.
// CHECK-LABEL: func.func @drift
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.host_in %x, %0 {pes = array<i64: 0, 0, 4, 1>, layout = #pe.layout<1x1x13x4xf32 on 4x1 split [_, _, r, c]>} : tensor<1x1x13x4xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<3xf32>
// CHECK-NEXT:    pe.host_in %w, %1 {pes = array<i64: 0, 0, 4, 1>, layout = #pe.layout<1x1x3x1xf32 on 4x1 split [_, _, _, _]>} : tensor<1x1x3x1xf32>, !pe.buf<3xf32>
// CHECK-NEXT:    %2 = pe.alloc {name = "halo_rows", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<20xf32>
// CHECK-NEXT:    pe.fill %2 {pes = array<i64: 0, 0, 4, 1>, value = 0.000000e+00 : f64} : !pe.buf<20xf32>
// CHECK-NEXT:    %3 = pe.alloc {name = "halo_to_south", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.pack %3, %0 {pes = array<i64: 0, 0, 3, 1>, shape = array<i64: 1, 1, 4, 4>, dim = 2 : i64, start = 1 : i64, count = 3 : i64} : !pe.buf<12xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.route ramp -> [south] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 0 : i64, pes = array<i64: 1, 0, 3, 1>}
// CHECK-NEXT:    %4 = pe.send %3 {pes = array<i64: 0, 0, 3, 1>, color = 0 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %5 = pe.alloc {name = "halo_to_north", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.pack %5, %0 {pes = array<i64: 1, 0, 3, 1>, shape = array<i64: 1, 1, 4, 4>, dim = 2 : i64, start = 0 : i64, count = 1 : i64} : !pe.buf<4xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    pe.route ramp -> [north] {color = 1 : i64, pes = array<i64: 1, 0, 3, 1>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    %6 = pe.send %5 {pes = array<i64: 1, 0, 3, 1>, color = 1 : i64} : !pe.buf<4xf32> -> !pe.token
// CHECK-NEXT:    pe.unpack %2, %0 along r {pes = array<i64: 0, 0, 4, 1>, shape = array<i64: 1, 1, 5, 4>, dim = 2 : i64, count = 4 : i64, at = array<i64: 0, 1>} : !pe.buf<20xf32>, !pe.buf<16xf32>
// CHECK-NEXT:    %7 = pe.alloc {name = "halo_from_south", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.recv %7 {pes = array<i64: 1, 0, 3, 1>, color = 0 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.unpack %2, %7 along r {pes = array<i64: 1, 0, 3, 1>, shape = array<i64: 1, 1, 5, 4>, dim = 2 : i64, count = 3 : i64, at = array<i64: -3, 1>} : !pe.buf<20xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    %8 = pe.alloc {name = "halo_from_north", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.recv %8 {pes = array<i64: 0, 0, 3, 1>, color = 1 : i64} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.unpack %2, %8 along r {pes = array<i64: 0, 0, 3, 1>, shape = array<i64: 1, 1, 5, 4>, dim = 2 : i64, count = 1 : i64, at = array<i64: 4, 1>} : !pe.buf<20xf32>, !pe.buf<4xf32>
// CHECK-NEXT:    pe.wait %4 {pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.wait %6 {pes = array<i64: 1, 0, 3, 1>}
// CHECK-NEXT:    %9 = pe.alloc {name = "conv2d", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.conv2d %9, %2, %1 {pes = array<i64: 0, 0, 4, 1>, in_shape = array<i64: 1, 1, 5, 4>, out_shape = array<i64: 1, 1, 3, 4>, kernel = array<i64: 3, 1>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : !pe.buf<12xf32>, !pe.buf<20xf32>, !pe.buf<3xf32>
// CHECK-NEXT:    %10 = pe.host_out %9 {layout = #pe.layout<1x1x11x4xf32 on 4x1 split [_, _, r, c]>, pes = array<i64: 0, 0, 4, 1>} : !pe.buf<12xf32> -> tensor<1x1x11x4xf32>
// CHECK-NEXT:    func.return %10 : tensor<1x1x11x4xf32>
  func.func @drift(%x: tensor<1x1x13x4xf32>, %w: tensor<1x1x3x1xf32>) -> tensor<1x1x11x4xf32> {
    %0 = mesh.scatter %x : tensor<1x1x13x4xf32> -> !mesh.tensor<1x1x13x4xf32 on 4x1 split [_, _, r, c]>
    %1 = mesh.scatter %w : tensor<1x1x3x1xf32> -> !mesh.tensor<1x1x3x1xf32 on 4x1 split [_, _, _, _]>
    %2 = mesh.conv2d %0, %1 stride [1, 1] padding [0, 0, 0, 0] dilation [1, 1] groups 1 : (!mesh.tensor<1x1x13x4xf32 on 4x1 split [_, _, r, c]>, !mesh.tensor<1x1x3x1xf32 on 4x1 split [_, _, _, _]>) -> !mesh.tensor<1x1x11x4xf32 on 4x1 split [_, _, r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<1x1x11x4xf32 on 4x1 split [_, _, r, c]> -> tensor<1x1x11x4xf32>
    func.return %3 : tensor<1x1x11x4xf32>
  }

// 2x2 windows with stride 2 on 4x4 blocks: every window lies in its PE's own tile, no halo,
// the pool reads the input buffer directly.
// CHECK-LABEL: func.func @aligned_pool
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<32xf32>
// CHECK-NEXT:    pe.host_in %x, %0 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<1x2x8x8xf32 on 2x2 split [_, _, r, c]>} : tensor<1x2x8x8xf32>, !pe.buf<32xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "max_pool2d", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
// CHECK-NEXT:    pe.pool2d max %1, %0 {pes = array<i64: 0, 0, 2, 2>, in_shape = array<i64: 1, 2, 4, 4>, out_shape = array<i64: 1, 2, 2, 2>, kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, dilation = array<i64: 1, 1>} : !pe.buf<8xf32>, !pe.buf<32xf32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<1x2x4x4xf32 on 2x2 split [_, _, r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32> -> tensor<1x2x4x4xf32>
// CHECK-NEXT:    func.return %2 : tensor<1x2x4x4xf32>
  func.func @aligned_pool(%x: tensor<1x2x8x8xf32>) -> tensor<1x2x4x4xf32> {
    %0 = mesh.scatter %x : tensor<1x2x8x8xf32> -> !mesh.tensor<1x2x8x8xf32 on 2x2 split [_, _, r, c]>
    %1 = mesh.pool2d max %0 kernel [2, 2] stride [2, 2] padding [0, 0, 0, 0] dilation [1, 1] : !mesh.tensor<1x2x8x8xf32 on 2x2 split [_, _, r, c]> -> !mesh.tensor<1x2x4x4xf32 on 2x2 split [_, _, r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<1x2x4x4xf32 on 2x2 split [_, _, r, c]> -> tensor<1x2x4x4xf32>
    func.return %2 : tensor<1x2x4x4xf32>
  }

// One PE row: the rows phase only pads (no messages); the columns phase exchanges with the
// east and west neighbours.
// CHECK-LABEL: func.func @one_pe_row
// CHECK:         %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<20xf32>
// CHECK-NEXT:    pe.host_in %x, %0 {pes = array<i64: 0, 0, 1, 2>, layout = #pe.layout<1x1x5x8xf32 on 1x2 split [_, _, r, c]>} : tensor<1x1x5x8xf32>, !pe.buf<20xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "halo_rows", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<28xf32>
// CHECK-NEXT:    pe.fill %1 {pes = array<i64: 0, 0, 1, 2>, value = 0.000000e+00 : f64} : !pe.buf<28xf32>
// CHECK-NEXT:    pe.unpack %1, %0 along r {pes = array<i64: 0, 0, 1, 2>, shape = array<i64: 1, 1, 7, 4>, dim = 2 : i64, count = 5 : i64, at = array<i64: 1, 0>} : !pe.buf<28xf32>, !pe.buf<20xf32>
// CHECK-NEXT:    %2 = pe.alloc {name = "halo_cols", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<42xf32>
// CHECK-NEXT:    pe.fill %2 {pes = array<i64: 0, 0, 1, 2>, value = 0.000000e+00 : f64} : !pe.buf<42xf32>
// CHECK-NEXT:    %3 = pe.alloc {name = "halo_to_east", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.pack %3, %1 {pes = array<i64: 0, 0, 1, 1>, shape = array<i64: 1, 1, 7, 4>, dim = 3 : i64, start = 3 : i64, count = 1 : i64} : !pe.buf<7xf32>, !pe.buf<28xf32>
// CHECK-NEXT:    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    %4 = pe.send %3 {pes = array<i64: 0, 0, 1, 1>, color = 0 : i64} : !pe.buf<7xf32> -> !pe.token
// CHECK-NEXT:    %5 = pe.alloc {name = "halo_to_west", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.pack %5, %1 {pes = array<i64: 0, 1, 1, 1>, shape = array<i64: 1, 1, 7, 4>, dim = 3 : i64, start = 0 : i64, count = 1 : i64} : !pe.buf<7xf32>, !pe.buf<28xf32>
// CHECK-NEXT:    pe.route ramp -> [west] {color = 1 : i64, pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    %6 = pe.send %5 {pes = array<i64: 0, 1, 1, 1>, color = 1 : i64} : !pe.buf<7xf32> -> !pe.token
// CHECK-NEXT:    pe.unpack %2, %1 along c {pes = array<i64: 0, 0, 1, 2>, shape = array<i64: 1, 1, 7, 6>, dim = 3 : i64, count = 4 : i64, at = array<i64: 1, 0>} : !pe.buf<42xf32>, !pe.buf<28xf32>
// CHECK-NEXT:    %7 = pe.alloc {name = "halo_from_east", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.recv %7 {pes = array<i64: 0, 1, 1, 1>, color = 0 : i64} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.unpack %2, %7 along c {pes = array<i64: 0, 1, 1, 1>, shape = array<i64: 1, 1, 7, 6>, dim = 3 : i64, count = 1 : i64, at = array<i64: 0, 0>} : !pe.buf<42xf32>, !pe.buf<7xf32>
// CHECK-NEXT:    %8 = pe.alloc {name = "halo_from_west", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.recv %8 {pes = array<i64: 0, 0, 1, 1>, color = 1 : i64} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.unpack %2, %8 along c {pes = array<i64: 0, 0, 1, 1>, shape = array<i64: 1, 1, 7, 6>, dim = 3 : i64, count = 1 : i64, at = array<i64: 5, 0>} : !pe.buf<42xf32>, !pe.buf<7xf32>
// CHECK-NEXT:    pe.wait %4 {pes = array<i64: 0, 0, 1, 1>}
// CHECK-NEXT:    pe.wait %6 {pes = array<i64: 0, 1, 1, 1>}
// CHECK-NEXT:    %9 = pe.alloc {name = "avg_pool2d", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<20xf32>
// CHECK-NEXT:    pe.pool2d avg %9, %2 {pes = array<i64: 0, 0, 1, 2>, in_shape = array<i64: 1, 1, 7, 6>, out_shape = array<i64: 1, 1, 5, 4>, kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>} : !pe.buf<20xf32>, !pe.buf<42xf32>
// CHECK-NEXT:    %10 = pe.host_out %9 {layout = #pe.layout<1x1x5x8xf32 on 1x2 split [_, _, r, c]>, pes = array<i64: 0, 0, 1, 2>} : !pe.buf<20xf32> -> tensor<1x1x5x8xf32>
// CHECK-NEXT:    func.return %10 : tensor<1x1x5x8xf32>
  func.func @one_pe_row(%x: tensor<1x1x5x8xf32>) -> tensor<1x1x5x8xf32> {
    %0 = mesh.scatter %x : tensor<1x1x5x8xf32> -> !mesh.tensor<1x1x5x8xf32 on 1x2 split [_, _, r, c]>
    %1 = mesh.pool2d avg %0 kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] : !mesh.tensor<1x1x5x8xf32 on 1x2 split [_, _, r, c]> -> !mesh.tensor<1x1x5x8xf32 on 1x2 split [_, _, r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<1x1x5x8xf32 on 1x2 split [_, _, r, c]> -> tensor<1x1x5x8xf32>
    func.return %2 : tensor<1x1x5x8xf32>
  }

// The channel-split form on 2x2 (one input and one output channel per PE column, 2 rows of H
// per PE row): each PE makes its channel's window once (the halo along the rows, then W's
// padding), then per input channel its PE column multicasts the window along the rows (async,
// a channel and a receive buffer per parity: step 1 streams while step 0 computes) and every
// PE accumulates its filter's conv of it.
// CHECK-LABEL: func.func @channel_split
// CHECK:         %2 = pe.alloc {name = "halo_rows", {{.*}} : !pe.buf<20xf32>
// CHECK:         %9 = pe.alloc {name = "halo_cols", {{.*}} : !pe.buf<28xf32>
// CHECK:         pe.unpack %9, %2 along c {{.*}} at = array<i64: 1, 0>}
// CHECK:         pe.route ramp -> [east, ramp] {color = 2 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK:         pe.route ramp -> [east, ramp] {color = 3 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK:         %14 = pe.send %9 {pes = array<i64: 0, 0, 2, 1>, color = 2 : i64} : !pe.buf<28xf32> -> !pe.token
// CHECK-NEXT:    %15 = pe.recv %11 {pes = array<i64: 0, 0, 2, 2>, color = 2 : i64} : !pe.buf<28xf32> -> !pe.token
// CHECK-NEXT:    pe.wait %15
// CHECK-NEXT:    %16 = pe.send %9 {pes = array<i64: 0, 1, 2, 1>, color = 3 : i64}
// CHECK-NEXT:    %17 = pe.recv %12 {pes = array<i64: 0, 0, 2, 2>, color = 3 : i64}
// CHECK-NEXT:    pe.pack %13, %1 {{.*}} dim = 1 : i64, start = 0 : i64, count = 1 : i64}
// CHECK-NEXT:    pe.conv2d %10, %11, %13 {{.*}} in_shape = array<i64: 1, 1, 4, 7>, out_shape = array<i64: 1, 1, 2, 5>, {{.*}} groups = 1 : i64}
// CHECK-NEXT:    pe.wait %17
// CHECK-NEXT:    pe.wait %14 {pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.pack %13, %1 {{.*}} start = 1 : i64, count = 1 : i64}
// CHECK-NEXT:    pe.conv2d %10, %12, %13 {{.*}} accumulate, groups = 1 : i64}
// CHECK-NEXT:    pe.wait %16 {pes = array<i64: 0, 1, 2, 1>}
  func.func @channel_split(%x: tensor<1x2x4x5xf32>, %w: tensor<2x2x3x3xf32>) -> tensor<1x2x4x5xf32> {
    %0 = mesh.scatter %x : tensor<1x2x4x5xf32> -> !mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>
    %1 = mesh.scatter %w : tensor<2x2x3x3xf32> -> !mesh.tensor<2x2x3x3xf32 on 2x2 split [c, _, _, _]>
    %2 = mesh.conv2d %0, %1 stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>, !mesh.tensor<2x2x3x3xf32 on 2x2 split [c, _, _, _]>) -> !mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]>
    %3 = mesh.gather %2 : !mesh.tensor<1x2x4x5xf32 on 2x2 split [_, c, r, _]> -> tensor<1x2x4x5xf32>
    func.return %3 : tensor<1x2x4x5xf32>
  }
}
