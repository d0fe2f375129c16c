// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// Lowering of the mesh shape ops to pe (see docs/passes.md).

builtin.module attributes {pf.target = #pf.target<"small">} {

// mesh.broadcast: pe.broadcast on the grid's PEs, src tile [1, 3] (the new dim in front) to
// the result's [4, 3] block; no communication.
// CHECK-LABEL: func.func @broadcast
// CHECK-NEXT:    %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<3xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 2, 3>, layout = #pe.layout<9xf32 on 2x3 split [c]>} : tensor<9xf32>, !pe.buf<3xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "broadcast", pes = array<i64: 0, 0, 2, 3>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.broadcast %1, %0 {pes = array<i64: 0, 0, 2, 3>, src_shape = array<i64: 1, 3>, dst_shape = array<i64: 4, 3>} : !pe.buf<12xf32>, !pe.buf<3xf32>
// CHECK-NEXT:    %2 = pe.host_out %1 {layout = #pe.layout<8x9xf32 on 2x3 split [r, c]>, pes = array<i64: 0, 0, 2, 3>} : !pe.buf<12xf32> -> tensor<8x9xf32>
// CHECK-NEXT:    func.return %2 : tensor<8x9xf32>
  func.func @broadcast(%a: tensor<9xf32>) -> tensor<8x9xf32> {
    %0 = mesh.scatter %a : tensor<9xf32> -> !mesh.tensor<9xf32 on 2x3 split [c]>
    %1 = mesh.broadcast %0 : !mesh.tensor<9xf32 on 2x3 split [c]> -> !mesh.tensor<8x9xf32 on 2x3 split [r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<8x9xf32 on 2x3 split [r, c]> -> tensor<8x9xf32>
    func.return %2 : tensor<8x9xf32>
  }

// mesh.slice: an exchange with the index map offset = start, stride = step: its local part, then
// each network phase with one pe.routes stating its messages' paths, on a channel of its own.
// CHECK-LABEL: func.func @slice
// CHECK-NEXT:    %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 3, 3>} : !pe.buf<20xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 3, 3>, layout = #pe.layout<13x11xf32 on 3x3 split [r, c]>} : tensor<13x11xf32>, !pe.buf<20xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "slice", pes = array<i64: 0, 0, 3, 3>} : !pe.buf<4xf32>
// CHECK-NEXT:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 3, 3>, src_layout = #pe.layout<13x11xf32 on 3x3 split [r, c]>, dst_layout = #pe.layout<5x4xf32 on 3x3 split [r, c]>, offset = array<i64: 1, 0>, stride = array<i64: 2, 3>} : !pe.buf<4xf32>, !pe.buf<20xf32>
// CHECK:    pe.routes [
// CHECK:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 3, 3>, color = 0 : i64, phase = 1 : i64,
// CHECK:    pe.routes [
// CHECK:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 3, 3>, color = 1 : i64, phase = 2 : i64,
// CHECK:         %2 = pe.host_out %1 {layout = #pe.layout<5x4xf32 on 3x3 split [r, c]>, pes = array<i64: 0, 0, 3, 3>} : !pe.buf<4xf32> -> tensor<5x4xf32>
// CHECK-NEXT:    func.return %2 : tensor<5x4xf32>
  func.func @slice(%a: tensor<13x11xf32>) -> tensor<5x4xf32> {
    %0 = mesh.scatter %a : tensor<13x11xf32> -> !mesh.tensor<13x11xf32 on 3x3 split [r, c]>
    %1 = mesh.slice %0 start [1, 0] stop [10, 11] step [2, 3] : !mesh.tensor<13x11xf32 on 3x3 split [r, c]> -> !mesh.tensor<5x4xf32 on 3x3 split [r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<5x4xf32 on 3x3 split [r, c]> -> tensor<5x4xf32>
    func.return %2 : tensor<5x4xf32>
  }

// A slice whose result is the window reshaped (flame-to-mesh folds a moving reshape of a slice
// into it): the exchange also carries the window's shape; dst's row-major position p takes the
// window's element p.
// CHECK-LABEL: func.func @slice_reshaped
// CHECK:         pe.exchange %1, %0 {pes = array<i64: 0, 0, 2, 3>, src_layout = #pe.layout<4x24xf32 on 2x3 split [r, c]>, dst_layout = #pe.layout<4x2x4xf32 on 2x3 split [_, r, c]>, offset = array<i64: 0, 8>, stride = array<i64: 1, 1>, window = array<i64: 4, 8>}
// CHECK:         pe.exchange %1, %0 {pes = array<i64: 0, 0, 2, 3>, color = 0 : i64, phase = 1 : i64, {{.*}} window = array<i64: 4, 8>}
  func.func @slice_reshaped(%a: tensor<4x24xf32>) -> tensor<4x2x4xf32> {
    %0 = mesh.scatter %a : tensor<4x24xf32> -> !mesh.tensor<4x24xf32 on 2x3 split [r, c]>
    %1 = mesh.slice %0 start [0, 8] stop [4, 16] step [1, 1] : !mesh.tensor<4x24xf32 on 2x3 split [r, c]> -> !mesh.tensor<4x2x4xf32 on 2x3 split [_, r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<4x2x4xf32 on 2x3 split [_, r, c]> -> tensor<4x2x4xf32>
    func.return %2 : tensor<4x2x4xf32>
  }

// mesh.pad: pe.fill with the value, then an exchange (offset = -low) that leaves the
// elements without a source alone. A pad that only crops needs no fill.
// CHECK-LABEL: func.func @pad_and_crop
// CHECK-NEXT:    %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 2, 2>, layout = #pe.layout<7x5xf32 on 2x2 split [r, c]>} : tensor<7x5xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "pad", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.fill %1 {pes = array<i64: 0, 0, 2, 2>, value = -1.000000e+00 : f64} : !pe.buf<16xf32>
// CHECK-NEXT:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 2, 2>, src_layout = #pe.layout<7x5xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, offset = array<i64: 0, -1>, stride = array<i64: 1, 1>} : !pe.buf<16xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    %2 = pe.alloc {name = "pad", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32>
// CHECK-NEXT:    pe.exchange %2, %0 {pes = array<i64: 0, 0, 2, 2>, src_layout = #pe.layout<7x5xf32 on 2x2 split [r, c]>, dst_layout = #pe.layout<5x5xf32 on 2x2 split [r, c]>, offset = array<i64: 2, 0>, stride = array<i64: 1, 1>} : !pe.buf<9xf32>, !pe.buf<12xf32>
// CHECK:    pe.routes [
// CHECK:    pe.exchange %2, %0 {pes = array<i64: 0, 0, 2, 2>, color = 0 : i64, phase = 1 : i64,
// CHECK:         %3 = pe.host_out %1 {layout = #pe.layout<8x8xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32> -> tensor<8x8xf32>
// CHECK-NEXT:    %4 = pe.host_out %2 {layout = #pe.layout<5x5xf32 on 2x2 split [r, c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<9xf32> -> tensor<5x5xf32>
// CHECK-NEXT:    func.return %3, %4 : tensor<8x8xf32>, tensor<5x5xf32>
  func.func @pad_and_crop(%a: tensor<7x5xf32>) -> (tensor<8x8xf32>, tensor<5x5xf32>) {
    %0 = mesh.scatter %a : tensor<7x5xf32> -> !mesh.tensor<7x5xf32 on 2x2 split [r, c]>
    %1 = mesh.pad %0 low [0, 1] high [1, 2] value -1.0 : !mesh.tensor<7x5xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
    %2 = mesh.pad %0 low [-2, 0] high [0, 0] value 0.0 : !mesh.tensor<7x5xf32 on 2x2 split [r, c]> -> !mesh.tensor<5x5xf32 on 2x2 split [r, c]>
    %3 = mesh.gather %1 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> tensor<8x8xf32>
    %4 = mesh.gather %2 : !mesh.tensor<5x5xf32 on 2x2 split [r, c]> -> tensor<5x5xf32>
    func.return %3, %4 : tensor<8x8xf32>, tensor<5x5xf32>
  }

// mesh.concat: an exchange per operand into the same buffer (offset = minus the operand's
// start along dim), each on the bounding box of its grid and the result's; an empty operand
// moves nothing.
// CHECK-LABEL: func.func @concat
// CHECK-NEXT:    %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 3, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 3, 2>, layout = #pe.layout<9x7xf32 on 3x2 split [r, c]>} : tensor<9x7xf32>, !pe.buf<12xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 1>} : !pe.buf<7xf32>
// CHECK-NEXT:    pe.host_in %b, %1 {pes = array<i64: 0, 0, 4, 1>, layout = #pe.layout<4x7xf32 on 4x1 split [r, _]>} : tensor<4x7xf32>, !pe.buf<7xf32>
// CHECK-NEXT:    %2 = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<1xf32>
// CHECK-NEXT:    pe.host_in %c, %2 {pes = array<i64: 0, 0, 1, 1>, layout = #pe.layout<0x7xf32 on 1x1 split [_, _]>} : tensor<0x7xf32>, !pe.buf<1xf32>
// CHECK-NEXT:    %3 = pe.alloc {name = "cat", pes = array<i64: 0, 0, 3, 2>} : !pe.buf<20xf32>
// CHECK-NEXT:    pe.exchange %3, %0 {pes = array<i64: 0, 0, 3, 2>, src_layout = #pe.layout<9x7xf32 on 3x2 split [r, c]>, dst_layout = #pe.layout<13x7xf32 on 3x2 split [r, c]>, offset = array<i64: 0, 0>, stride = array<i64: 1, 1>} : !pe.buf<20xf32>, !pe.buf<12xf32>
// CHECK:    pe.routes [
// CHECK:    pe.exchange %3, %0 {pes = array<i64: 0, 0, 3, 2>, color = 0 : i64, phase = 1 : i64,
// CHECK-NEXT:    pe.exchange %3, %1 {pes = array<i64: 0, 0, 4, 2>, src_layout = #pe.layout<4x7xf32 on 4x1 split [r, _]>, dst_layout = #pe.layout<13x7xf32 on 3x2 split [r, c]>, offset = array<i64: -9, 0>, stride = array<i64: 1, 1>} : !pe.buf<20xf32>, !pe.buf<7xf32>
// CHECK:    pe.routes [
// CHECK:    pe.exchange %3, %1 {pes = array<i64: 0, 0, 4, 2>, color = 1 : i64, phase = 1 : i64,
// CHECK:    pe.routes [
// CHECK:    pe.exchange %3, %1 {pes = array<i64: 0, 0, 4, 2>, color = 2 : i64, phase = 2 : i64,
// CHECK:         %4 = pe.host_out %3 {layout = #pe.layout<13x7xf32 on 3x2 split [r, c]>, pes = array<i64: 0, 0, 3, 2>} : !pe.buf<20xf32> -> tensor<13x7xf32>
// CHECK-NEXT:    func.return %4 : tensor<13x7xf32>
  func.func @concat(%a: tensor<9x7xf32>, %b: tensor<4x7xf32>, %c: tensor<0x7xf32>) -> tensor<13x7xf32> {
    %0 = mesh.scatter %a : tensor<9x7xf32> -> !mesh.tensor<9x7xf32 on 3x2 split [r, c]>
    %1 = mesh.scatter %b : tensor<4x7xf32> -> !mesh.tensor<4x7xf32 on 4x1 split [r, _]>
    %2 = mesh.scatter %c : tensor<0x7xf32> -> !mesh.tensor<0x7xf32 on 1x1 split [_, _]>
    %3 = mesh.concat %0, %2, %1 dim 0 : (!mesh.tensor<9x7xf32 on 3x2 split [r, c]>, !mesh.tensor<0x7xf32 on 1x1 split [_, _]>, !mesh.tensor<4x7xf32 on 4x1 split [r, _]>) -> !mesh.tensor<13x7xf32 on 3x2 split [r, c]>
    %4 = mesh.gather %3 : !mesh.tensor<13x7xf32 on 3x2 split [r, c]> -> tensor<13x7xf32>
    func.return %4 : tensor<13x7xf32>
  }

// mesh.relayout (a reshape that moves data): an exchange without an index map, which moves
// every element to the same row-major position in the new shape.
// CHECK-LABEL: func.func @relayout
// CHECK-NEXT:    %0 = pe.alloc {name = "input", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<192xf32>
// CHECK-NEXT:    pe.host_in %a, %0 {pes = array<i64: 0, 0, 4, 4>, layout = #pe.layout<64x48xf32 on 4x4 split [r, c]>} : tensor<64x48xf32>, !pe.buf<192xf32>
// CHECK-NEXT:    %1 = pe.alloc {name = "reshape", pes = array<i64: 0, 0, 4, 4>} : !pe.buf<192xf32>
// CHECK-NEXT:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 4, 4>, src_layout = #pe.layout<64x48xf32 on 4x4 split [r, c]>, dst_layout = #pe.layout<3072xf32 on 4x4 split [rc]>} : !pe.buf<192xf32>, !pe.buf<192xf32>
// CHECK:    pe.routes [
// CHECK:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 4, 4>, color = 0 : i64, phase = 1 : i64,
// CHECK:    pe.routes [
// CHECK:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 4, 4>, color = 1 : i64, phase = 2 : i64,
// CHECK:    pe.routes [
// CHECK:    pe.exchange %1, %0 {pes = array<i64: 0, 0, 4, 4>, color = 2 : i64, phase = 3 : i64,
// CHECK:         %2 = pe.host_out %1 {layout = #pe.layout<3072xf32 on 4x4 split [rc]>, pes = array<i64: 0, 0, 4, 4>} : !pe.buf<192xf32> -> tensor<3072xf32>
// CHECK-NEXT:    func.return %2 : tensor<3072xf32>
  func.func @relayout(%a: tensor<64x48xf32>) -> tensor<3072xf32> {
    %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
    %1 = mesh.relayout %0 : !mesh.tensor<64x48xf32 on 4x4 split [r, c]> -> !mesh.tensor<3072xf32 on 4x4 split [rc]>
    %2 = mesh.gather %1 : !mesh.tensor<3072xf32 on 4x4 split [rc]> -> tensor<3072xf32>
    func.return %2 : tensor<3072xf32>
  }
}
