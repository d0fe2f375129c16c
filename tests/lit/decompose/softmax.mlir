// RUN: pyflame-opt %s -p decompose | filecheck %s
// RUN: pyflame-opt %s -p decompose --print-debuginfo | filecheck %s --check-prefix=LOC

// softmax is exp(x - max) / sum(exp(x - max)) along its dim: the max and the sum are keepdim
// reductions broadcast back over the dim. log_softmax is (x - max) - log(sum(exp(x - max))).
// Half floats compute in float32 and are rounded once at the end. Every op made takes the
// composite's location; a layout hint moves to the op giving the result.

// CHECK-LABEL: func.func @softmax
// CHECK-NEXT:    %0 = flame.reduce_max %x {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %1 = flame.broadcast_to %0 : tensor<4x1xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %2 = flame.sub %x, %1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = flame.exp %2 : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %4 = flame.reduce_sum %3 {dims = array<i64: 1>, keepdim} : tensor<4x8xf32> -> tensor<4x1xf32>
// CHECK-NEXT:    %5 = flame.broadcast_to %4 : tensor<4x1xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %6 = flame.div %3, %5 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    func.return %6 : tensor<4x8xf32>
// LOC-LABEL: func.func @softmax
// LOC-COUNT-7: loc("net.py":7:0)
// LOC-NEXT:      func.return
func.func @softmax(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = flame.softmax %x {dim = 1 : i64} : tensor<4x8xf32> -> tensor<4x8xf32> loc("net.py":7:0)
  func.return %0 : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @log_softmax_bf16
// CHECK-NEXT:    %0 = flame.convert %x : tensor<4x8xbf16> -> tensor<4x8xf32>
// CHECK-NEXT:    %1 = flame.reduce_max %0 {dims = array<i64: 0>, keepdim} : tensor<4x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT:    %2 = flame.broadcast_to %1 : tensor<1x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %3 = flame.sub %0, %2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %4 = flame.exp %3 : tensor<4x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %5 = flame.reduce_sum %4 {dims = array<i64: 0>, keepdim} : tensor<4x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT:    %6 = flame.log %5 : tensor<1x8xf32> -> tensor<1x8xf32>
// CHECK-NEXT:    %7 = flame.broadcast_to %6 : tensor<1x8xf32> -> tensor<4x8xf32>
// CHECK-NEXT:    %8 = flame.sub %3, %7 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT:    %9 = flame.convert %8 {layout = #flame.layout<grid [2, 2]>} : tensor<4x8xf32> -> tensor<4x8xbf16>
// CHECK-NEXT:    func.return %9 : tensor<4x8xbf16>
func.func @log_softmax_bf16(%x: tensor<4x8xbf16>) -> tensor<4x8xbf16> {
  %0 = flame.log_softmax %x {dim = 0 : i64, layout = #flame.layout<grid [2, 2]>} : tensor<4x8xbf16> -> tensor<4x8xbf16>
  func.return %0 : tensor<4x8xbf16>
}

// Other ops pass through untouched, even unused ones (no dead-code elimination).
// CHECK-LABEL: func.func @untouched
// CHECK-NEXT:    %0 = flame.exp %x : tensor<4xf32> -> tensor<4xf32>
// CHECK-NEXT:    %1 = flame.relu %x : tensor<4xf32> -> tensor<4xf32>
// CHECK-NEXT:    func.return %1 : tensor<4xf32>
func.func @untouched(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = flame.exp %x : tensor<4xf32> -> tensor<4xf32>
  %1 = flame.relu %x : tensor<4xf32> -> tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
