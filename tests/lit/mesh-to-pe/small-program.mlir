// RUN: pyflame-opt %s -p mesh-to-pe | filecheck %s
// RUN: pyflame-opt %s -p lower-mesh-to-pe,allocate-colors,allocate-sram | filecheck %s

// mesh-to-pe is lower-mesh-to-pe, allocate-colors and allocate-sram in one pass (the second RUN
// line checks it matches the three run one by one). Every buffer gets an offset; SUMMA is
// double-buffered (two pairs of receive buffers, colors 0 and 1 for its row broadcasts, 2 and 3
// for its column broadcasts); the allreduce's channel (a chain from row 1 to row 0 whose root
// forwards the total back as it arrives: chosen by cost when lowered) takes color 4, the first
// whose rules agree with its own (SUMMA's rules on its ports differ, so no router switches and
// no barrier is needed); the partial sums reuse the dead input's bytes at offset 0.

// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %[[A:.*]] = pe.alloc {name = "input@net.py:2", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.host_in %a, %[[A]]
// CHECK-NEXT:    %[[B:.*]] = pe.alloc {name = "input@net.py:3", pes = array<i64: 0, 0, 2, 2>, offset = 48 : i64} : !pe.buf<6xf32>
// CHECK-NEXT:    pe.host_in %b, %[[B]]
// CHECK-NEXT:    %[[C:.*]] = pe.alloc {name = "matmul@net.py:4", pes = array<i64: 0, 0, 2, 2>, offset = 80 : i64} : !pe.buf<8xf32>
// CHECK-NEXT:    pe.fill %[[C]]
// CHECK-NEXT:    %[[WA:.*]] = pe.alloc {name = "summa_a0@net.py:4", pes = array<i64: 0, 0, 2, 2>, offset = 112 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    %[[WB:.*]] = pe.alloc {name = "summa_b0@net.py:4", pes = array<i64: 0, 0, 2, 2>, offset = 160 : i64} : !pe.buf<6xf32>
// CHECK-NEXT:    pe.alloc {name = "summa_a1@net.py:4", pes = array<i64: 0, 0, 2, 2>, offset = 192 : i64} : !pe.buf<12xf32>
// CHECK-NEXT:    pe.alloc {name = "summa_b1@net.py:4", pes = array<i64: 0, 0, 2, 2>, offset = 240 : i64} : !pe.buf<6xf32>
// CHECK-COUNT-2: pe.route {{.*}} {color = 0 : i64
// CHECK-COUNT-2: pe.route {{.*}} {color = 1 : i64
// CHECK-COUNT-2: pe.route {{.*}} {color = 2 : i64
// CHECK-COUNT-2: pe.route {{.*}} {color = 3 : i64
// CHECK-NEXT:    pe.send %[[A]] {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64}
// CHECK-NEXT:    pe.send %[[B]] {pes = array<i64: 0, 0, 1, 2>, color = 2 : i64}
// CHECK:         %[[P:.*]] = pe.alloc {name = "partial@net.py:5", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<2xf32>
// CHECK-NEXT:    pe.reduce sum %[[P]], %[[C]]
// CHECK-NEXT:    pe.route ramp -> [north] {color = 4 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 4 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [south] {color = 4 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 4 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.send %[[P]] {pes = array<i64: 1, 0, 1, 2>, color = 4 : i64}
// CHECK-NEXT:    pe.recv %[[P]] combine sum forward {pes = array<i64: 0, 0, 1, 2>, color = 4 : i64}
// CHECK-NEXT:    pe.recv %[[P]] {pes = array<i64: 1, 0, 1, 2>, color = 4 : i64}
// CHECK-NEXT:    %[[O:.*]] = pe.host_out %[[P]] {layout = #pe.layout<4xf32 on 2x2 split [c]>, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<2xf32> -> tensor<4xf32>
// CHECK-NEXT:    func.return %[[O]] : tensor<4xf32>
// CHECK-NOT:     mesh.
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main(%a: tensor<8x6xf32>, %b: tensor<6x4xf32>) -> tensor<4xf32> {
    %0 = mesh.scatter %a : tensor<8x6xf32> -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]> loc("net.py":2:0)
    %1 = mesh.scatter %b : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]> loc("net.py":3:0)
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]> loc("net.py":4:0)
    %3 = mesh.local_reduce sum %2 dims [0] : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<2x4xf32 on 2x2 split [r, c]> loc("net.py":5:0)
    %4 = mesh.allreduce sum %3 dims [0] : !mesh.tensor<2x4xf32 on 2x2 split [r, c]> -> !mesh.tensor<1x4xf32 on 2x2 split [_, c]> loc("net.py":5:0)
    %5 = mesh.reshape %4 : !mesh.tensor<1x4xf32 on 2x2 split [_, c]> -> !mesh.tensor<4xf32 on 2x2 split [c]> loc("net.py":5:0)
    %6 = mesh.gather %5 : !mesh.tensor<4xf32 on 2x2 split [c]> -> tensor<4xf32> loc("net.py":6:0)
    func.return %6 : tensor<4xf32>
  }
}
