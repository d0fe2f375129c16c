// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// Lowering of the flame shape ops: broadcast_to, slice, concat, pad (see docs/passes.md).

builtin.module attributes {pf.target = #pf.target<"small">} {

// broadcast_to: a source already unsplit along the broadcast dim expands in place on every PE
// (mesh.broadcast, no communication); the result keeps the source's grid and split.
// CHECK-LABEL: func.func @broadcast_in_place
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<9xf32> -> !mesh.tensor<9xf32 on 1x3 split [c]>
// CHECK-NEXT:    %1 = mesh.broadcast %0 : !mesh.tensor<9xf32 on 1x3 split [c]> -> !mesh.tensor<8x9xf32 on 1x3 split [_, c]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<8x9xf32 on 1x3 split [_, c]> -> tensor<8x9xf32>
// CHECK-NEXT:    func.return %2 : tensor<8x9xf32>
  func.func @broadcast_in_place(%a: tensor<9xf32> {flame.layout = #flame.layout<col_partition [3]>}) -> tensor<8x9xf32> {
    %0 = flame.broadcast_to %a : tensor<9xf32> -> tensor<8x9xf32>
    func.return %0 : tensor<8x9xf32>
  }

// A size-1 dim split over rows holds its element on row 0 only: it is replicated down the
// rows first (one redistribute), then each PE expands its tile into its block of rows.
// CHECK-LABEL: func.func @broadcast_split_unit_dim
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<1x9xf32> -> !mesh.tensor<1x9xf32 on 3x3 split [r, c]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<1x9xf32 on 3x3 split [r, c]> -> !mesh.tensor<1x9xf32 on 3x3 split [_, c]>
// CHECK-NEXT:    %2 = mesh.broadcast %1 : !mesh.tensor<1x9xf32 on 3x3 split [_, c]> -> !mesh.tensor<8x9xf32 on 3x3 split [r, c]>
// CHECK-NEXT:    %3 = mesh.gather %2 : !mesh.tensor<8x9xf32 on 3x3 split [r, c]> -> tensor<8x9xf32>
// CHECK-NEXT:    func.return %3 : tensor<8x9xf32>
  func.func @broadcast_split_unit_dim(%a: tensor<1x9xf32> {flame.layout = #flame.layout<grid [3, 3]>}) -> tensor<8x9xf32> {
    %0 = flame.broadcast_to %a : tensor<1x9xf32> -> tensor<8x9xf32>
    func.return %0 : tensor<8x9xf32>
  }

// A hint on the result places the (lazy) input directly where the broadcast needs it.
// CHECK-LABEL: func.func @broadcast_hinted
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<9xf32> -> !mesh.tensor<9xf32 on 2x3 split [c]>
// CHECK-NEXT:    %1 = mesh.broadcast %0 : !mesh.tensor<9xf32 on 2x3 split [c]> -> !mesh.tensor<8x9xf32 on 2x3 split [r, c]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<8x9xf32 on 2x3 split [r, c]> -> tensor<8x9xf32>
// CHECK-NEXT:    func.return %2 : tensor<8x9xf32>
  func.func @broadcast_hinted(%a: tensor<9xf32>) -> tensor<8x9xf32> {
    %0 = flame.broadcast_to %a {layout = #flame.layout<grid [2, 3]>} : tensor<9xf32> -> tensor<8x9xf32>
    func.return %0 : tensor<8x9xf32>
  }

// slice: one mesh.slice to the same grid, every dim keeping its split, except that size-1
// result dims become unsplit (x[:, -1] then drops that dim in place). A slice taking
// everything where it already is emits nothing.
// CHECK-LABEL: func.func @slices
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<13x11xf32> -> !mesh.tensor<13x11xf32 on 3x3 split [r, c]>
// CHECK-NEXT:    %1 = mesh.slice %0 start [1, 0] stop [10, 11] step [2, 3] : !mesh.tensor<13x11xf32 on 3x3 split [r, c]> -> !mesh.tensor<5x4xf32 on 3x3 split [r, c]>
// CHECK-NEXT:    %2 = mesh.slice %0 start [0, 10] stop [13, 11] step [1, 1] : !mesh.tensor<13x11xf32 on 3x3 split [r, c]> -> !mesh.tensor<13x1xf32 on 3x3 split [r, _]>
// CHECK-NEXT:    %3 = mesh.reshape %2 : !mesh.tensor<13x1xf32 on 3x3 split [r, _]> -> !mesh.tensor<13xf32 on 3x3 split [r]>
// CHECK-NEXT:    %4 = mesh.gather %1 : !mesh.tensor<5x4xf32 on 3x3 split [r, c]> -> tensor<5x4xf32>
// CHECK-NEXT:    %5 = mesh.gather %3 : !mesh.tensor<13xf32 on 3x3 split [r]> -> tensor<13xf32>
// CHECK-NEXT:    %6 = mesh.gather %0 : !mesh.tensor<13x11xf32 on 3x3 split [r, c]> -> tensor<13x11xf32>
// CHECK-NEXT:    func.return %4, %5, %6 : tensor<5x4xf32>, tensor<13xf32>, tensor<13x11xf32>
  func.func @slices(%a: tensor<13x11xf32> {flame.layout = #flame.layout<grid [3, 3]>}) -> (tensor<5x4xf32>, tensor<13xf32>, tensor<13x11xf32>) {
    %0 = flame.slice %a {start = array<i64: 1, 0>, stop = array<i64: 10, 11>, step = array<i64: 2, 3>} : tensor<13x11xf32> -> tensor<5x4xf32>
    %1 = flame.slice %a {start = array<i64: 0, 10>, stop = array<i64: 13, 11>, step = array<i64: 1, 1>} : tensor<13x11xf32> -> tensor<13x1xf32>
    %2 = flame.reshape %1 : tensor<13x1xf32> -> tensor<13xf32>
    %3 = flame.slice %a {start = array<i64: 0, 0>, stop = array<i64: 13, 11>, step = array<i64: 1, 1>} : tensor<13x11xf32> -> tensor<13x11xf32>
    func.return %0, %2, %3 : tensor<5x4xf32>, tensor<13xf32>, tensor<13x11xf32>
  }

// concat: one mesh.concat from operands laid out in any way into the first operand's layout;
// a lazy creation op is made directly in that layout.
// CHECK-LABEL: func.func @concat
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<9x7xf32> -> !mesh.tensor<9x7xf32 on 3x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %b : tensor<4x7xf32> -> !mesh.tensor<4x7xf32 on 4x1 split [r, _]>
// CHECK-NEXT:    %2 = mesh.fill 1.500000e+00 : !mesh.tensor<2x7xf32 on 3x2 split [r, c]>
// CHECK-NEXT:    %3 = mesh.concat %0, %1, %2 dim 0 : (!mesh.tensor<9x7xf32 on 3x2 split [r, c]>, !mesh.tensor<4x7xf32 on 4x1 split [r, _]>, !mesh.tensor<2x7xf32 on 3x2 split [r, c]>) -> !mesh.tensor<15x7xf32 on 3x2 split [r, c]>
// CHECK-NEXT:    %4 = mesh.gather %3 : !mesh.tensor<15x7xf32 on 3x2 split [r, c]> -> tensor<15x7xf32>
// CHECK-NEXT:    func.return %4 : tensor<15x7xf32>
  func.func @concat(%a: tensor<9x7xf32> {flame.layout = #flame.layout<grid [3, 2]>}, %b: tensor<4x7xf32> {flame.layout = #flame.layout<row_partition [4]>}) -> tensor<15x7xf32> {
    %z = flame.fill {value = 1.5 : f64} : tensor<2x7xf32>
    %0 = flame.concat %a, %b, %z {dim = 0 : i64} : (tensor<9x7xf32>, tensor<4x7xf32>, tensor<2x7xf32>) -> tensor<15x7xf32>
    func.return %0 : tensor<15x7xf32>
  }

// pad: one mesh.pad into the operand's layout with the new shape.
// CHECK-LABEL: func.func @pad
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<7x5xf32> -> !mesh.tensor<7x5xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %1 = mesh.pad %0 low [0, 1] high [1, 2] value -1.000000e+00 : !mesh.tensor<7x5xf32 on 2x2 split [r, c]> -> !mesh.tensor<8x8xf32 on 2x2 split [r, c]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<8x8xf32 on 2x2 split [r, c]> -> tensor<8x8xf32>
// CHECK-NEXT:    func.return %2 : tensor<8x8xf32>
  func.func @pad(%a: tensor<7x5xf32> {flame.layout = #flame.layout<grid [2, 2]>}) -> tensor<8x8xf32> {
    %0 = flame.pad %a {low = array<i64: 0, 1>, high = array<i64: 1, 2>, value = -1.0 : f64} : tensor<7x5xf32> -> tensor<8x8xf32>
    func.return %0 : tensor<8x8xf32>
  }

// A small source broadcast to a result too big for one PE lands on the default grid (8x8 for
// 256 KiB): the source is placed on that grid first.
// CHECK-LABEL: func.func @big_broadcast
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<1x256xf32> -> !mesh.tensor<1x256xf32 on 8x8 split [_, c]>
// CHECK-NEXT:    %1 = mesh.broadcast %0 : !mesh.tensor<1x256xf32 on 8x8 split [_, c]> -> !mesh.tensor<256x256xf32 on 8x8 split [r, c]>
// CHECK-NEXT:    %2 = mesh.gather %1 : !mesh.tensor<256x256xf32 on 8x8 split [r, c]> -> tensor<256x256xf32>
// CHECK-NEXT:    func.return %2 : tensor<256x256xf32>
  func.func @big_broadcast(%a: tensor<1x256xf32>) -> tensor<256x256xf32> {
    %0 = flame.broadcast_to %a : tensor<1x256xf32> -> tensor<256x256xf32>
    func.return %0 : tensor<256x256xf32>
  }

// A reshape that moves data, of a slice nothing else reads (q, k and v split from one
// projection, each then split into heads): one mesh.slice whose result is the window
// reshaped, one exchange from the slice's source (lowered: a pe.exchange with `window`).
// CHECK-LABEL: func.func @slice_then_heads
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<4x24xf32> -> !mesh.tensor<4x24xf32 on 2x3 split [r, c]>
// CHECK-NEXT:    %1 = mesh.slice %0 start [0, 8] stop [4, 16] step [1, 1] : !mesh.tensor<4x24xf32 on 2x3 split [r, c]> -> !mesh.tensor<4x2x4xf32 on 2x3 split [_, r, c]>
// CHECK-NEXT:    %2 = mesh.gather %1
  func.func @slice_then_heads(%a: tensor<4x24xf32> {flame.layout = #flame.layout<grid [2, 3]>}) -> tensor<4x2x4xf32> {
    %0 = flame.slice %a {start = array<i64: 0, 8>, stop = array<i64: 4, 16>, step = array<i64: 1, 1>} : tensor<4x24xf32> -> tensor<4x8xf32>
    %1 = flame.reshape %0 : tensor<4x8xf32> -> tensor<4x2x4xf32>
    func.return %1 : tensor<4x2x4xf32>
  }

// The slice read by something else too stays a slice of its own, and the reshape a relayout.
// CHECK-LABEL: func.func @slice_read_twice
// CHECK:         %1 = mesh.slice %0 start [0, 8] stop [4, 16] step [1, 1] : !mesh.tensor<4x24xf32 on 2x3 split [r, c]> -> !mesh.tensor<4x8xf32 on 2x3 split [r, c]>
// CHECK-NEXT:    %2 = mesh.relayout %1
  func.func @slice_read_twice(%a: tensor<4x24xf32> {flame.layout = #flame.layout<grid [2, 3]>}) -> (tensor<4x2x4xf32>, tensor<4x8xf32>) {
    %0 = flame.slice %a {start = array<i64: 0, 8>, stop = array<i64: 4, 16>, step = array<i64: 1, 1>} : tensor<4x24xf32> -> tensor<4x8xf32>
    %1 = flame.reshape %0 : tensor<4x8xf32> -> tensor<4x2x4xf32>
    func.return %1, %0 : tensor<4x2x4xf32>, tensor<4x8xf32>
  }

// A pad of zero widths (a slice's gradient along a whole dim) is the input itself: no exchange.
// CHECK-LABEL: func.func @pad_nothing
// CHECK-NEXT:    %0 = mesh.scatter %a : tensor<4x24xf32> -> !mesh.tensor<4x24xf32 on 2x3 split [r, c]>
// CHECK-NEXT:    %1 = mesh.gather %0
  func.func @pad_nothing(%a: tensor<4x24xf32> {flame.layout = #flame.layout<grid [2, 3]>}) -> tensor<4x24xf32> {
    %0 = flame.pad %a {low = array<i64: 0, 0>, high = array<i64: 0, 0>, value = 0.0 : f64} : tensor<4x24xf32> -> tensor<4x24xf32>
    func.return %0 : tensor<4x24xf32>
  }
}
