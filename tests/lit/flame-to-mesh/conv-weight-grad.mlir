// RUN: pyflame-opt %s -p decompose,flame-to-mesh,plan-memory | filecheck %s

// flame.conv2d_weight_grad (autograd's rule for a conv2d's weight): mesh.conv2d_weight_grad's
// per-PE partials, a mesh.allreduce of them over the grid, a reshape to the weight's shape
// where the weight lives. Block padding of both operands must be 0 (the grad multiplies the
// windows): here they come from redistributions, whose exchanges zero it, so no mask_pad.

builtin.module attributes {pf.target = #pf.target<"small">} {

// groups 1 on 4x4: channel-split (the output channels' filters over the columns) is estimated
// cheaper; the partials (R, O, C, kh, kw) are summed over the PE rows only and the gradient
// ends split [c, _, _, _], as the channel-split conv2d's weight.
// CHECK-LABEL: func.func @weight_grad
// CHECK:         %0 = mesh.scatter %x : tensor<2x6x13x11xf32> -> !mesh.tensor<2x6x13x11xf32 on 4x4 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.redistribute %0 : !mesh.tensor<2x6x13x11xf32 on 4x4 split [_, _, r, c]> -> !mesh.tensor<2x6x13x11xf32 on 4x4 split [_, c, r, _]>
// CHECK-NEXT:    %2 = mesh.scatter %dy : tensor<2x8x13x11xf32> -> !mesh.tensor<2x8x13x11xf32 on 4x4 split [_, _, r, c]>
// CHECK-NEXT:    %3 = mesh.redistribute %2 : !mesh.tensor<2x8x13x11xf32 on 4x4 split [_, _, r, c]> -> !mesh.tensor<2x8x13x11xf32 on 4x4 split [_, c, r, _]>
// CHECK-NEXT:    %4 = mesh.conv2d_weight_grad %1, %3 kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 1 : (!mesh.tensor<2x6x13x11xf32 on 4x4 split [_, c, r, _]>, !mesh.tensor<2x8x13x11xf32 on 4x4 split [_, c, r, _]>) -> !mesh.tensor<4x8x6x3x3xf32 on 4x4 split [r, c, _, _, _]>
// CHECK-NEXT:    %5 = mesh.allreduce sum %4 dims [0] : !mesh.tensor<4x8x6x3x3xf32 on 4x4 split [r, c, _, _, _]> -> !mesh.tensor<1x8x6x3x3xf32 on 4x4 split [_, c, _, _, _]>
// CHECK-NEXT:    %6 = mesh.reshape %5 : !mesh.tensor<1x8x6x3x3xf32 on 4x4 split [_, c, _, _, _]> -> !mesh.tensor<8x6x3x3xf32 on 4x4 split [c, _, _, _]>
// CHECK-NEXT:    %7 = mesh.gather %6 : !mesh.tensor<8x6x3x3xf32 on 4x4 split [c, _, _, _]> -> tensor<8x6x3x3xf32>
  func.func @weight_grad(%x: tensor<2x6x13x11xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %dy: tensor<2x8x13x11xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<8x6x3x3xf32> {
    %0 = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<2x6x13x11xf32>, tensor<2x8x13x11xf32>) -> tensor<8x6x3x3xf32>
    func.return %0 : tensor<8x6x3x3xf32>
  }

// groups 2: the spatial form on the inputs' 3x3 grid; every PE's whole partial is summed over
// the grid and the gradient is replicated, as the spatial conv2d's weight.
// CHECK-LABEL: func.func @grouped
// CHECK-NEXT:    %0 = mesh.scatter %x : tensor<1x4x9x9xf32> -> !mesh.tensor<1x4x9x9xf32 on 3x3 split [_, _, r, c]>
// CHECK-NEXT:    %1 = mesh.scatter %dy : tensor<1x4x9x9xf32> -> !mesh.tensor<1x4x9x9xf32 on 3x3 split [_, _, r, c]>
// CHECK-NEXT:    %2 = mesh.conv2d_weight_grad %0, %1 kernel [3, 3] stride [1, 1] padding [1, 1, 1, 1] dilation [1, 1] groups 2 : (!mesh.tensor<1x4x9x9xf32 on 3x3 split [_, _, r, c]>, !mesh.tensor<1x4x9x9xf32 on 3x3 split [_, _, r, c]>) -> !mesh.tensor<3x3x4x2x3x3xf32 on 3x3 split [r, c, _, _, _, _]>
// CHECK-NEXT:    %3 = mesh.allreduce sum %2 dims [0, 1] : !mesh.tensor<3x3x4x2x3x3xf32 on 3x3 split [r, c, _, _, _, _]> -> !mesh.tensor<1x1x4x2x3x3xf32 on 3x3 split [_, _, _, _, _, _]>
// CHECK-NEXT:    %4 = mesh.reshape %3 : !mesh.tensor<1x1x4x2x3x3xf32 on 3x3 split [_, _, _, _, _, _]> -> !mesh.tensor<4x2x3x3xf32 on 3x3 split [_, _, _, _]>
// CHECK-NEXT:    %5 = mesh.gather %4 : !mesh.tensor<4x2x3x3xf32 on 3x3 split [_, _, _, _]> -> tensor<4x2x3x3xf32>
  func.func @grouped(%x: tensor<1x4x9x9xf32> {flame.layout = #flame.layout<grid [3, 3]>}, %dy: tensor<1x4x9x9xf32> {flame.layout = #flame.layout<grid [3, 3]>}) -> tensor<4x2x3x3xf32> {
    %0 = flame.conv2d_weight_grad %x, %dy {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x4x9x9xf32>, tensor<1x4x9x9xf32>) -> tensor<4x2x3x3xf32>
    func.return %0 : tensor<4x2x3x3xf32>
  }
}
