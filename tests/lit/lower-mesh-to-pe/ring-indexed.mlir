// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// mesh.ring_gather_rows: the rows start zero; each of the 4 steps (the middle two a pe.loop)
// sends the index chunk on while the PE fills in the rows it holds (gather_rows keep), then
// sends the rows on; the last step moves only the rows, home. mesh.ring_scatter_add_rows adds
// while its chunks move on, and does not move them after the last add.

// CHECK-LABEL: func.func @lookup
// CHECK:         %2 = pe.alloc {name = "ring_rows", pes = array<i64: 0, 0, 4, 2>} : !pe.buf<15xf32>
// CHECK-NEXT:    %3 = pe.alloc {name = "ring_rows_next", pes = array<i64: 0, 0, 4, 2>} : !pe.buf<15xf32>
// CHECK-NEXT:    %4 = pe.alloc {name = "ring_index_next", pes = array<i64: 0, 0, 4, 2>} : !pe.buf<5xi32>
// CHECK-NEXT:    pe.fill %2
// CHECK:         pe.send %1 {{.*}}color = 0
// CHECK-NEXT:    pe.recv %4 {{.*}}color = 0
// CHECK-NEXT:    pe.gather_rows %2, %0, %1 {{.*}}layout = #pe.layout<100x3xf32 on 4x2 split [r, _]>, keep}
// CHECK-NEXT:    pe.send %2 {{.*}}color = 1
// CHECK-NEXT:    pe.recv %3 {{.*}}color = 1
// CHECK-NEXT:    pe.wait
// CHECK-NEXT:    pe.loop %{{.*}} = 0 to 1 {
// CHECK:         pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.gather_rows %3, %0, %4 {{.*}}keep}
// CHECK-NEXT:    pe.send %3 {{.*}}color = 1
// CHECK-NEXT:    pe.recv %2 {{.*}}color = 1
// CHECK-NEXT:    pe.wait
// CHECK-NEXT:    pe.host_out %2 {layout = #pe.layout<37x3xf32 on 4x2 split [rc, _]>

// CHECK-LABEL: func.func @grad
// CHECK:         %2 = pe.alloc {name = "ring_scatter_add_rows", pes = array<i64: 0, 0, 4, 2>} : !pe.buf<75xf32>
// CHECK-NEXT:    pe.fill %2
// CHECK:         pe.scatter_add_rows %2, %1, %0 {{.*}}layout = #pe.layout<100x3xf32 on 4x2 split [r, _]>}
// CHECK-NEXT:    pe.wait
// CHECK:         pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.scatter_add_rows %2, %4, %3
// CHECK-NEXT:    pe.host_out %2 {layout = #pe.layout<2x100x3xf32 on 4x2 split [c, r, _]>

builtin.module attributes {pf.target = #pf.target<"small">} {
func.func @lookup(%w: tensor<100x3xf32>, %i: tensor<37xi32>) -> tensor<37x3xf32> {
  %0 = mesh.scatter %w : tensor<100x3xf32> -> !mesh.tensor<100x3xf32 on 4x2 split [r, _]>
  %1 = mesh.scatter %i : tensor<37xi32> -> !mesh.tensor<37xi32 on 4x2 split [rc]>
  %2 = mesh.ring_gather_rows %0, %1 : (!mesh.tensor<100x3xf32 on 4x2 split [r, _]>, !mesh.tensor<37xi32 on 4x2 split [rc]>) -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>
  %3 = mesh.gather %2 : !mesh.tensor<37x3xf32 on 4x2 split [rc, _]> -> tensor<37x3xf32>
  func.return %3 : tensor<37x3xf32>
}
func.func @grad(%i: tensor<37xi32>, %g: tensor<37x3xf32>) -> tensor<2x100x3xf32> {
  %0 = mesh.scatter %i : tensor<37xi32> -> !mesh.tensor<37xi32 on 4x2 split [rc]>
  %1 = mesh.scatter %g : tensor<37x3xf32> -> !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>
  %2 = mesh.ring_scatter_add_rows %0, %1 : (!mesh.tensor<37xi32 on 4x2 split [rc]>, !mesh.tensor<37x3xf32 on 4x2 split [rc, _]>) -> !mesh.tensor<2x100x3xf32 on 4x2 split [c, r, _]>
  %3 = mesh.gather %2 : !mesh.tensor<2x100x3xf32 on 4x2 split [c, r, _]> -> tensor<2x100x3xf32>
  func.return %3 : tensor<2x100x3xf32>
}
}
