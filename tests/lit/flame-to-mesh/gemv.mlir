// RUN: pyflame-opt %s -p decompose,flame-to-mesh | filecheck %s

// Skinny matmuls (a result of at most 16 columns or rows) keep the matrix's layout: the skinny
// operand is placed along the contraction's mesh axis, mesh.local_matmul multiplies the blocks
// every PE holds, mesh.allreduce sums the partials along that axis (flame_lowering/gemv.py).

// A small matrix on one PE: one local product, nothing to reduce.
// CHECK-LABEL: func.func @gemv
// CHECK-NEXT:   %0 = mesh.scatter %a : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 1x1 split [_, _]>
// CHECK-NEXT:   %1 = mesh.scatter %x : tensor<48xf32> -> !mesh.tensor<48xf32 on 1x1 split [_]>
// CHECK-NEXT:   %2 = mesh.reshape %1 : !mesh.tensor<48xf32 on 1x1 split [_]> -> !mesh.tensor<48x1xf32 on 1x1 split [_, _]>
// CHECK-NEXT:   %3 = mesh.local_matmul %0, %2 : (!mesh.tensor<64x48xf32 on 1x1 split [_, _]>, !mesh.tensor<48x1xf32 on 1x1 split [_, _]>) -> !mesh.tensor<1x64x1xf32 on 1x1 split [_, _, _]>
// CHECK-NEXT:   %4 = mesh.reshape %3 : !mesh.tensor<1x64x1xf32 on 1x1 split [_, _, _]> -> !mesh.tensor<64x1xf32 on 1x1 split [_, _]>
// CHECK-NEXT:   %5 = mesh.reshape %4 : !mesh.tensor<64x1xf32 on 1x1 split [_, _]> -> !mesh.tensor<64xf32 on 1x1 split [_]>
// CHECK-NEXT:   %6 = mesh.gather %5 : !mesh.tensor<64xf32 on 1x1 split [_]> -> tensor<64xf32>

// A kept on its 4x4 grid; x (2 columns) scattered straight into copies along the PE rows
// (K split over the columns); K = 50 over 4 has padding, which the host's tiles already hold
// zeros in (no mask_pad); the 4 partials of each PE row are allreduced along it.
// CHECK-LABEL: func.func @k_padding
// CHECK-NEXT:   %0 = mesh.scatter %a : tensor<64x50xf32> -> !mesh.tensor<64x50xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %x : tensor<50x2xf32> -> !mesh.tensor<50x2xf32 on 4x4 split [c, _]>
// CHECK-NEXT:   %2 = mesh.local_matmul %0, %1 : (!mesh.tensor<64x50xf32 on 4x4 split [r, c]>, !mesh.tensor<50x2xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x2xf32 on 4x4 split [c, r, _]>
// CHECK-NEXT:   %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x64x2xf32 on 4x4 split [c, r, _]> -> !mesh.tensor<1x64x2xf32 on 4x4 split [_, r, _]>
// CHECK-NEXT:   %4 = mesh.reshape %3 : !mesh.tensor<1x64x2xf32 on 4x4 split [_, r, _]> -> !mesh.tensor<64x2xf32 on 4x4 split [r, _]>
// CHECK-NEXT:   %5 = mesh.gather %4 : !mesh.tensor<64x2xf32 on 4x4 split [r, _]> -> tensor<64x2xf32>

// The same with A computed on the PEs (exp(0) = 1 in its padding): A's padding is zeroed
// before the products, x's (from the host) is not.
// CHECK-LABEL: func.func @k_padding_computed
// CHECK-NEXT:   %0 = mesh.scatter %a : tensor<64x50xf32> -> !mesh.tensor<64x50xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %1 = mesh.unary exp %0 : !mesh.tensor<64x50xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %2 = mesh.scatter %x : tensor<50x2xf32> -> !mesh.tensor<50x2xf32 on 4x4 split [c, _]>
// CHECK-NEXT:   %3 = mesh.mask_pad %1 value 0.000000e+00 : !mesh.tensor<64x50xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %4 = mesh.local_matmul %3, %2 : (!mesh.tensor<64x50xf32 on 4x4 split [r, c]>, !mesh.tensor<50x2xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x2xf32 on 4x4 split [c, r, _]>

// x @ W: x copied along the PE columns with K split over the rows like W's; the partials are
// summed along the PE columns.
// CHECK-LABEL: func.func @vector_times_matrix
// CHECK-NEXT:   %0 = mesh.scatter %w : tensor<48x40xf32> -> !mesh.tensor<48x40xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %x : tensor<1x48xf32> -> !mesh.tensor<1x48xf32 on 4x4 split [_, r]>
// CHECK-NEXT:   %2 = mesh.local_matmul %1, %0 : (!mesh.tensor<1x48xf32 on 4x4 split [_, r]>, !mesh.tensor<48x40xf32 on 4x4 split [r, c]>) -> !mesh.tensor<4x1x40xf32 on 4x4 split [r, _, c]>
// CHECK-NEXT:   %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x1x40xf32 on 4x4 split [r, _, c]> -> !mesh.tensor<1x1x40xf32 on 4x4 split [_, _, c]>
// CHECK-NEXT:   %4 = mesh.reshape %3 : !mesh.tensor<1x1x40xf32 on 4x4 split [_, _, c]> -> !mesh.tensor<1x40xf32 on 4x4 split [_, c]>
// CHECK-NEXT:   %5 = mesh.gather %4 : !mesh.tensor<1x40xf32 on 4x4 split [_, c]> -> tensor<1x40xf32>

// W2 @ (W1 @ x): the first result lies split over the rows, so W2 is placed [c, r] (its
// contraction dim on the rows): no redistribution between the two GEMVs.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT:   %0 = mesh.scatter %w1 : tensor<64x48xf32> -> !mesh.tensor<64x48xf32 on 4x4 split [r, c]>
// CHECK-NEXT:   %1 = mesh.scatter %x : tensor<48x1xf32> -> !mesh.tensor<48x1xf32 on 4x4 split [c, _]>
// CHECK-NEXT:   %2 = mesh.local_matmul %0, %1 : (!mesh.tensor<64x48xf32 on 4x4 split [r, c]>, !mesh.tensor<48x1xf32 on 4x4 split [c, _]>) -> !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]>
// CHECK-NEXT:   %3 = mesh.allreduce sum %2 dims [0] : !mesh.tensor<4x64x1xf32 on 4x4 split [c, r, _]> -> !mesh.tensor<1x64x1xf32 on 4x4 split [_, r, _]>
// CHECK-NEXT:   %4 = mesh.reshape %3 : !mesh.tensor<1x64x1xf32 on 4x4 split [_, r, _]> -> !mesh.tensor<64x1xf32 on 4x4 split [r, _]>
// CHECK-NEXT:   %5 = mesh.scatter %w2 : tensor<40x64xf32> -> !mesh.tensor<40x64xf32 on 4x4 split [c, r]>
// CHECK-NEXT:   %6 = mesh.local_matmul %5, %4 : (!mesh.tensor<40x64xf32 on 4x4 split [c, r]>, !mesh.tensor<64x1xf32 on 4x4 split [r, _]>) -> !mesh.tensor<4x40x1xf32 on 4x4 split [r, c, _]>
// CHECK-NEXT:   %7 = mesh.allreduce sum %6 dims [0] : !mesh.tensor<4x40x1xf32 on 4x4 split [r, c, _]> -> !mesh.tensor<1x40x1xf32 on 4x4 split [_, c, _]>
// CHECK-NEXT:   %8 = mesh.reshape %7 : !mesh.tensor<1x40x1xf32 on 4x4 split [_, c, _]> -> !mesh.tensor<40x1xf32 on 4x4 split [c, _]>
// CHECK-NEXT:   %9 = mesh.gather %8 : !mesh.tensor<40x1xf32 on 4x4 split [c, _]> -> tensor<40x1xf32>
// CHECK-NOT:     mesh.redistribute

builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @gemv(%a: tensor<64x48xf32>, %x: tensor<48xf32>) -> tensor<64xf32> {
    %0 = flame.reshape %x : tensor<48xf32> -> tensor<48x1xf32>
    %1 = flame.matmul %a, %0 : (tensor<64x48xf32>, tensor<48x1xf32>) -> tensor<64x1xf32>
    %2 = flame.reshape %1 : tensor<64x1xf32> -> tensor<64xf32>
    func.return %2 : tensor<64xf32>
  }
  func.func @k_padding(%a: tensor<64x50xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %x: tensor<50x2xf32>) -> tensor<64x2xf32> {
    %0 = flame.matmul %a, %x : (tensor<64x50xf32>, tensor<50x2xf32>) -> tensor<64x2xf32>
    func.return %0 : tensor<64x2xf32>
  }
  func.func @k_padding_computed(%a: tensor<64x50xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %x: tensor<50x2xf32>) -> tensor<64x2xf32> {
    %0 = flame.exp %a : tensor<64x50xf32> -> tensor<64x50xf32>
    %1 = flame.matmul %0, %x : (tensor<64x50xf32>, tensor<50x2xf32>) -> tensor<64x2xf32>
    func.return %1 : tensor<64x2xf32>
  }
  func.func @vector_times_matrix(%x: tensor<1x48xf32>, %w: tensor<48x40xf32> {flame.layout = #flame.layout<grid [4, 4]>}) -> tensor<1x40xf32> {
    %0 = flame.matmul %x, %w : (tensor<1x48xf32>, tensor<48x40xf32>) -> tensor<1x40xf32>
    func.return %0 : tensor<1x40xf32>
  }
  func.func @chain(%w1: tensor<64x48xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %w2: tensor<40x64xf32> {flame.layout = #flame.layout<grid [4, 4]>}, %x: tensor<48x1xf32>) -> tensor<40x1xf32> {
    %0 = flame.matmul %w1, %x : (tensor<64x48xf32>, tensor<48x1xf32>) -> tensor<64x1xf32>
    %1 = flame.matmul %w2, %0 : (tensor<40x64xf32>, tensor<64x1xf32>) -> tensor<40x1xf32>
    func.return %1 : tensor<40x1xf32>
  }
}
