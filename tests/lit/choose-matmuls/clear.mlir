// RUN: pyflame-opt %s -p choose-matmuls | filecheck %s

// A GEMM on its own: the 2.5D SUMMA's lead over SUMMA (~67,000 cycles on 32x32 PEs) is far
// beyond what a few barriers cost, so the per-op choice stands and nothing is estimated.

// CHECK: mesh.matmul summa25d
// CHECK-NOT: pf.why
builtin.module attributes {pf.target = #pf.target<"WSE2">, pf.placement = #pf.placement<single_pe_bytes = 16384>} {
  func.func @main(%x0: tensor<1024x1024xf32> {flame.layout = #flame.layout<grid [32, 32]>}) -> tensor<1024x1024xf32> {
    %0 = mesh.scatter %x0 : tensor<1024x1024xf32> -> !mesh.tensor<1024x1024xf32 on 32x32 split [r, c]>
    %1 = mesh.matmul summa25d %0, %0 : (!mesh.tensor<1024x1024xf32 on 32x32 split [r, c]>, !mesh.tensor<1024x1024xf32 on 32x32 split [r, c]>) -> !mesh.tensor<1024x1024xf32 on 32x32 split [r, c]>
    %2 = mesh.gather %1 : !mesh.tensor<1024x1024xf32 on 32x32 split [r, c]> -> tensor<1024x1024xf32>
    func.return %2 : tensor<1024x1024xf32>
  }
}
