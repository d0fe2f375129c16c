// RUN: pyflame-opt %s -p choose-matmuls | filecheck %s

// The MLP 784-256-10 SGD step (batch 64) at the mesh level, as plan-memory leaves it on WSE2:
// flame-to-mesh took the 2.5D SUMMA for the weight gradient dW1 = x^T @ dh (784x64 @ 64x256
// on 64x64 PEs), 11% under SUMMA by its own estimate. Its layers' channels cost the program
// more route-switch barriers, but a barrier over 64x64 PEs gathers in 312 cycles: the per-op
// lead is more than BARRIERS_AT_STAKE barriers, a clear call, and the pass leaves every
// product as it was without estimating the program. (When barriers chained their word, 1,056
// cycles each, it was a close call and the program's estimate sent dW1 back to SUMMA:
// tests/unit/test_choose_matmuls.py makes barriers cost that again.)

// CHECK: mesh.matmul summa {{.*}} -> !mesh.tensor<64x256xf32
// CHECK: mesh.matmul summa {{.*}} -> !mesh.tensor<64x256xf32
// CHECK: mesh.matmul summa25d {{.*}} -> !mesh.tensor<784x256xf32
// CHECK-NOT: pf.why

builtin.module attributes {pf.target = #pf.target<"WSE2">, pf.placement = #pf.placement<single_pe_bytes = 16384>} {
  func.func @main(%x0: tensor<64xi32> {pf.dist = "64x64 split [r]", pf.why = "propagated"}, %x1: tensor<64x784xf32> {pf.dist = "64x64 split [r, c]", pf.why = "matmul", pf.reload}, %_0.weight: tensor<256x784xf32> {pf.dist = "64x64 split [c, r]", pf.why = "propagated"}, %_0.bias: tensor<256xf32> {pf.dist = "64x64 split [c]", pf.why = "propagated"}, %_2.weight: tensor<10x256xf32> {pf.dist = "64x64 split [_, c]", pf.why = "propagated", pf.reload}, %_2.bias: tensor<10xf32> {pf.dist = "64x64 split [_]", pf.why = "propagated"}, %x6: tensor<f32>, %x7: tensor<f32>, %x8: tensor<f32>, %x9: tensor<f32>) -> (tensor<f32>, tensor<256x784xf32>, tensor<256xf32>, tensor<10x256xf32>, tensor<10xf32>) {
    %0 = mesh.scatter %x0 : tensor<64xi32> -> !mesh.tensor<64xi32 on 64x64 split [r]>
    %1 = mesh.reshape %0 : !mesh.tensor<64xi32 on 64x64 split [r]> -> !mesh.tensor<64x1xi32 on 64x64 split [r, _]>
    %2 = mesh.broadcast %1 : !mesh.tensor<64x1xi32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xi32 on 64x64 split [r, _]>
    %3 = mesh.iota dim 0 start 0.000000e+00 step 1.000000e+00 : !mesh.tensor<10xi32 on 64x64 split [_]>
    %4 = mesh.broadcast %3 : !mesh.tensor<10xi32 on 64x64 split [_]> -> !mesh.tensor<64x10xi32 on 64x64 split [r, _]>
    %5 = mesh.binary eq %2, %4 : !mesh.tensor<64x10xi32 on 64x64 split [r, _]>, !mesh.tensor<64x10xi32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xi1 on 64x64 split [r, _]>
    %6 = mesh.convert %5 : !mesh.tensor<64x10xi1 on 64x64 split [r, _]> -> !mesh.tensor<64x10xi32 on 64x64 split [r, _]>
    %7 = mesh.convert %6 : !mesh.tensor<64x10xi32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %8 = mesh.fill 0.000000e+00 : !mesh.tensor<f32 on 64x64 split []>
    %9 = mesh.binary ne %7, %8 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<f32 on 64x64 split []> -> !mesh.tensor<64x10xi1 on 64x64 split [r, _]>
    %10 = mesh.scatter %x1 : tensor<64x784xf32> -> !mesh.tensor<64x784xf32 on 64x64 split [r, c]>
    %11 = mesh.scatter %_0.weight : tensor<256x784xf32> -> !mesh.tensor<256x784xf32 on 64x64 split [c, r]>
    %12 = mesh.transpose %11 perm [1, 0] : !mesh.tensor<256x784xf32 on 64x64 split [c, r]> -> !mesh.tensor<784x256xf32 on 64x64 split [r, c]>
    %13 = mesh.mask_pad %10 value 0.000000e+00 : !mesh.tensor<64x784xf32 on 64x64 split [r, c]>
    %14 = mesh.mask_pad %12 value 0.000000e+00 : !mesh.tensor<784x256xf32 on 64x64 split [r, c]>
    %15 = mesh.matmul summa %13, %14 : (!mesh.tensor<64x784xf32 on 64x64 split [r, c]>, !mesh.tensor<784x256xf32 on 64x64 split [r, c]>) -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %16 = mesh.scatter %_0.bias : tensor<256xf32> -> !mesh.tensor<256xf32 on 64x64 split [c]>
    %17 = mesh.broadcast %16 : !mesh.tensor<256xf32 on 64x64 split [c]> -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %18 = mesh.binary add %15, %17 : !mesh.tensor<64x256xf32 on 64x64 split [r, c]>, !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %19 = mesh.unary relu %18 : !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %20 = mesh.scatter %_2.weight : tensor<10x256xf32> -> !mesh.tensor<10x256xf32 on 64x64 split [_, c]>
    %21 = mesh.transpose %20 perm [1, 0] : !mesh.tensor<10x256xf32 on 64x64 split [_, c]> -> !mesh.tensor<256x10xf32 on 64x64 split [c, _]>
    %22 = mesh.local_matmul %19, %21 : (!mesh.tensor<64x256xf32 on 64x64 split [r, c]>, !mesh.tensor<256x10xf32 on 64x64 split [c, _]>) -> !mesh.tensor<64x64x10xf32 on 64x64 split [c, r, _]>
    %23 = mesh.allreduce sum %22 dims [0] : !mesh.tensor<64x64x10xf32 on 64x64 split [c, r, _]> -> !mesh.tensor<1x64x10xf32 on 64x64 split [_, r, _]>
    %24 = mesh.reshape %23 : !mesh.tensor<1x64x10xf32 on 64x64 split [_, r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %25 = mesh.scatter %_2.bias : tensor<10xf32> -> !mesh.tensor<10xf32 on 64x64 split [_]>
    %26 = mesh.broadcast %25 : !mesh.tensor<10xf32 on 64x64 split [_]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %27 = mesh.binary add %24, %26 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %28 = mesh.local_reduce max %27 dims [1] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %29 = mesh.broadcast %28 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %30 = mesh.binary sub %27, %29 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %31 = mesh.unary exp %30 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %32 = mesh.local_reduce sum %31 dims [1] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %33 = mesh.unary log %32 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %34 = mesh.broadcast %33 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %35 = mesh.binary sub %30, %34 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %36 = mesh.select %9, %35, %8 : !mesh.tensor<64x10xi1 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<f32 on 64x64 split []> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %37 = mesh.local_reduce sum %36 dims [1] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %38 = mesh.reshape %37 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %39 = mesh.unary neg %38 : !mesh.tensor<64xf32 on 64x64 split [r]>
    %40 = mesh.local_reduce sum %39 dims [0] : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %41 = mesh.allreduce sum %40 dims [0] algorithm ktree : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<1xf32 on 64x64 split [_]>
    %42 = mesh.reshape %41 : !mesh.tensor<1xf32 on 64x64 split [_]> -> !mesh.tensor<f32 on 64x64 split []>
    %43 = mesh.local_reduce sum %7 dims [1] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %44 = mesh.reshape %43 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %45 = mesh.local_reduce sum %44 dims [0] : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %46 = mesh.allreduce sum %45 dims [0] algorithm ktree : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<1xf32 on 64x64 split [_]>
    %47 = mesh.reshape %46 : !mesh.tensor<1xf32 on 64x64 split [_]> -> !mesh.tensor<f32 on 64x64 split []>
    %48 = mesh.binary div %42, %47 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<f32 on 64x64 split []> -> !mesh.tensor<f32 on 64x64 split []>
    %49 = mesh.transpose %10 perm [1, 0] : !mesh.tensor<64x784xf32 on 64x64 split [r, c]> -> !mesh.tensor<784x64xf32 on 64x64 split [c, r]>
    %50 = mesh.binary le %18, %8 : !mesh.tensor<64x256xf32 on 64x64 split [r, c]>, !mesh.tensor<f32 on 64x64 split []> -> !mesh.tensor<64x256xi1 on 64x64 split [r, c]>
    %51 = mesh.fill 1.000000e+00 : !mesh.tensor<f32 on 64x64 split []>
    %52 = mesh.binary div %51, %47 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<f32 on 64x64 split []> -> !mesh.tensor<f32 on 64x64 split []>
    %53 = mesh.reshape %52 : !mesh.tensor<f32 on 64x64 split []> -> !mesh.tensor<1xf32 on 64x64 split [_]>
    %54 = mesh.broadcast %53 : !mesh.tensor<1xf32 on 64x64 split [_]> -> !mesh.tensor<64xf32 on 64x64 split [r]>
    %55 = mesh.unary neg %54 : !mesh.tensor<64xf32 on 64x64 split [r]>
    %56 = mesh.reshape %55 : !mesh.tensor<64xf32 on 64x64 split [r]> -> !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %57 = mesh.broadcast %56 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %58 = mesh.fill 0.000000e+00 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %59 = mesh.select %9, %57, %58 : !mesh.tensor<64x10xi1 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %60 = mesh.unary exp %35 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %61 = mesh.local_reduce sum %59 dims [1] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x1xf32 on 64x64 split [r, _]>
    %62 = mesh.broadcast %61 : !mesh.tensor<64x1xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %63 = mesh.binary mul %60, %62 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %64 = mesh.binary sub %59, %63 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %65 = mesh.transpose %21 perm [1, 0] : !mesh.tensor<256x10xf32 on 64x64 split [c, _]> -> !mesh.tensor<10x256xf32 on 64x64 split [_, c]>
    %66 = mesh.redistribute %64 : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, c]>
    %67 = mesh.scatter %_2.weight : tensor<10x256xf32> -> !mesh.tensor<10x256xf32 on 64x64 split [r, c]>
    %68 = mesh.transpose %67 perm [1, 0] : !mesh.tensor<10x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<256x10xf32 on 64x64 split [c, r]>
    %69 = mesh.transpose %68 perm [1, 0] : !mesh.tensor<256x10xf32 on 64x64 split [c, r]> -> !mesh.tensor<10x256xf32 on 64x64 split [r, c]>
    %70 = mesh.mask_pad %66 value 0.000000e+00 : !mesh.tensor<64x10xf32 on 64x64 split [r, c]>
    %71 = mesh.mask_pad %69 value 0.000000e+00 : !mesh.tensor<10x256xf32 on 64x64 split [r, c]>
    %72 = mesh.matmul summa %70, %71 : (!mesh.tensor<64x10xf32 on 64x64 split [r, c]>, !mesh.tensor<10x256xf32 on 64x64 split [r, c]>) -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %73 = mesh.select %50, %8, %72 : !mesh.tensor<64x256xi1 on 64x64 split [r, c]>, !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %74 = mesh.scatter %x1 : tensor<64x784xf32> -> !mesh.tensor<64x784xf32 on 64x64 split [c, r]>
    %75 = mesh.transpose %74 perm [1, 0] : !mesh.tensor<64x784xf32 on 64x64 split [c, r]> -> !mesh.tensor<784x64xf32 on 64x64 split [r, c]>
    %76 = mesh.matmul summa25d %75, %73 : (!mesh.tensor<784x64xf32 on 64x64 split [r, c]>, !mesh.tensor<64x256xf32 on 64x64 split [r, c]>) -> !mesh.tensor<784x256xf32 on 64x64 split [r, c]>
    %77 = mesh.transpose %76 perm [1, 0] : !mesh.tensor<784x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<256x784xf32 on 64x64 split [c, r]>
    %78 = mesh.scatter %x6 : tensor<f32> -> !mesh.tensor<f32 on 64x64 split []>
    %79 = mesh.binary mul %78, %77 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<256x784xf32 on 64x64 split [c, r]> -> !mesh.tensor<256x784xf32 on 64x64 split [c, r]>
    %80 = mesh.binary add %11, %79 : !mesh.tensor<256x784xf32 on 64x64 split [c, r]>, !mesh.tensor<256x784xf32 on 64x64 split [c, r]> -> !mesh.tensor<256x784xf32 on 64x64 split [c, r]>
    %81 = mesh.local_reduce sum %73 dims [0] : !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<64x256xf32 on 64x64 split [r, c]>
    %82 = mesh.allreduce sum %81 dims [0] algorithm ktree : !mesh.tensor<64x256xf32 on 64x64 split [r, c]> -> !mesh.tensor<1x256xf32 on 64x64 split [_, c]>
    %83 = mesh.reshape %82 : !mesh.tensor<1x256xf32 on 64x64 split [_, c]> -> !mesh.tensor<256xf32 on 64x64 split [c]>
    %84 = mesh.scatter %x7 : tensor<f32> -> !mesh.tensor<f32 on 64x64 split []>
    %85 = mesh.binary mul %84, %83 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<256xf32 on 64x64 split [c]> -> !mesh.tensor<256xf32 on 64x64 split [c]>
    %86 = mesh.binary add %16, %85 : !mesh.tensor<256xf32 on 64x64 split [c]>, !mesh.tensor<256xf32 on 64x64 split [c]> -> !mesh.tensor<256xf32 on 64x64 split [c]>
    %87 = mesh.local_matmul transpose_a %19, %64 : (!mesh.tensor<64x256xf32 on 64x64 split [r, c]>, !mesh.tensor<64x10xf32 on 64x64 split [r, _]>) -> !mesh.tensor<64x256x10xf32 on 64x64 split [r, c, _]>
    %88 = mesh.allreduce sum %87 dims [0] : !mesh.tensor<64x256x10xf32 on 64x64 split [r, c, _]> -> !mesh.tensor<1x256x10xf32 on 64x64 split [_, c, _]>
    %89 = mesh.reshape %88 : !mesh.tensor<1x256x10xf32 on 64x64 split [_, c, _]> -> !mesh.tensor<256x10xf32 on 64x64 split [c, _]>
    %90 = mesh.transpose %89 perm [1, 0] : !mesh.tensor<256x10xf32 on 64x64 split [c, _]> -> !mesh.tensor<10x256xf32 on 64x64 split [_, c]>
    %91 = mesh.scatter %x8 : tensor<f32> -> !mesh.tensor<f32 on 64x64 split []>
    %92 = mesh.binary mul %91, %90 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<10x256xf32 on 64x64 split [_, c]> -> !mesh.tensor<10x256xf32 on 64x64 split [_, c]>
    %93 = mesh.binary add %20, %92 : !mesh.tensor<10x256xf32 on 64x64 split [_, c]>, !mesh.tensor<10x256xf32 on 64x64 split [_, c]> -> !mesh.tensor<10x256xf32 on 64x64 split [_, c]>
    %94 = mesh.local_reduce sum %64 dims [0] : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<64x10xf32 on 64x64 split [r, _]>
    %95 = mesh.allreduce sum %94 dims [0] algorithm ktree : !mesh.tensor<64x10xf32 on 64x64 split [r, _]> -> !mesh.tensor<1x10xf32 on 64x64 split [_, _]>
    %96 = mesh.reshape %95 : !mesh.tensor<1x10xf32 on 64x64 split [_, _]> -> !mesh.tensor<10xf32 on 64x64 split [_]>
    %97 = mesh.scatter %x9 : tensor<f32> -> !mesh.tensor<f32 on 64x64 split []>
    %98 = mesh.binary mul %97, %96 : !mesh.tensor<f32 on 64x64 split []>, !mesh.tensor<10xf32 on 64x64 split [_]> -> !mesh.tensor<10xf32 on 64x64 split [_]>
    %99 = mesh.binary add %25, %98 : !mesh.tensor<10xf32 on 64x64 split [_]>, !mesh.tensor<10xf32 on 64x64 split [_]> -> !mesh.tensor<10xf32 on 64x64 split [_]>
    %100 = mesh.gather %48 : !mesh.tensor<f32 on 64x64 split []> -> tensor<f32>
    %101 = mesh.gather %80 : !mesh.tensor<256x784xf32 on 64x64 split [c, r]> -> tensor<256x784xf32>
    %102 = mesh.gather %86 : !mesh.tensor<256xf32 on 64x64 split [c]> -> tensor<256xf32>
    %103 = mesh.gather %93 : !mesh.tensor<10x256xf32 on 64x64 split [_, c]> -> tensor<10x256xf32>
    %104 = mesh.gather %99 : !mesh.tensor<10xf32 on 64x64 split [_]> -> tensor<10xf32>
    func.return %100, %101, %102, %103, %104 : tensor<f32>, tensor<256x784xf32>, tensor<256xf32>, tensor<10x256xf32>, tensor<10xf32>
  }
}
