// RUN: pyflame-opt %s -p lower-mesh-to-pe | filecheck %s

// SUMMA on a GxG grid, double-buffered (the second pair of receive buffers fits): a zeroed
// accumulator, two pairs of receive buffers, two row-broadcast and two column-broadcast
// channels (routes emitted once, before the first send; step k uses the pair and the channels
// of parity k mod 2, and a channel routes only the streams of its parity's roots). Step 0's transfers are posted first; then per step k: wait for step k's
// receives, wait for step k-1's root sends, post step k+1's (PE column k+1 sends its A block
// along the rows, PE row k+1 its B block along the columns, every PE receives both into the
// other pair, all asynchronously), and accumulate step k's product while they stream.

// CHECK-LABEL: func.func @summa
// CHECK:         %[[A:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK:         %[[B:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
// CHECK:         %[[C:.*]] = pe.alloc {name = "matmul@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<8xf32>
// CHECK-NEXT:    pe.fill %[[C]] {pes = array<i64: 0, 0, 2, 2>, value = 0.000000e+00 : f64} : !pe.buf<8xf32>
// CHECK-NEXT:    %[[WA0:.*]] = pe.alloc {name = "summa_a0@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    %[[WB0:.*]] = pe.alloc {name = "summa_b0@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
// CHECK-NEXT:    %[[WA1:.*]] = pe.alloc {name = "summa_a1@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<12xf32>
// CHECK-NEXT:    %[[WB1:.*]] = pe.alloc {name = "summa_b1@net.py:9", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<6xf32>
// Channels 0 and 1: PE column 0 (step 0), then column 1 (step 1), multicasts along its rows;
// each channel routes only its roots' streams.
// CHECK-NEXT:    pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route ramp -> [west, ramp] {color = 1 : i64, pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 2, 1>}
// Channels 2 and 3: PE row 0, then row 1, multicasts along its columns.
// CHECK-NEXT:    pe.route ramp -> [south, ramp] {color = 2 : i64, pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.route north -> [ramp] {color = 2 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route ramp -> [north, ramp] {color = 3 : i64, pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.route south -> [ramp] {color = 3 : i64, pes = array<i64: 0, 0, 1, 2>}
// Step 0's transfers into pair 0.
// CHECK-NEXT:    %[[TA0:.*]] = pe.send %[[A]] {pes = array<i64: 0, 0, 2, 1>, color = 0 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %[[TB0:.*]] = pe.send %[[B]] {pes = array<i64: 0, 0, 1, 2>, color = 2 : i64} : !pe.buf<6xf32> -> !pe.token
// CHECK-NEXT:    %[[RA0:.*]] = pe.recv %[[WA0]] {pes = array<i64: 0, 0, 2, 2>, color = 0 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %[[RB0:.*]] = pe.recv %[[WB0]] {pes = array<i64: 0, 0, 2, 2>, color = 2 : i64} : !pe.buf<6xf32> -> !pe.token
// Step 0: its tiles are in; step 1's stream into pair 1 while pair 0 is multiplied.
// CHECK-NEXT:    pe.wait %[[RA0]], %[[RB0]] {pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    %[[TA1:.*]] = pe.send %[[A]] {pes = array<i64: 0, 1, 2, 1>, color = 1 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %[[TB1:.*]] = pe.send %[[B]] {pes = array<i64: 1, 0, 1, 2>, color = 3 : i64} : !pe.buf<6xf32> -> !pe.token
// CHECK-NEXT:    %[[RA1:.*]] = pe.recv %[[WA1]] {pes = array<i64: 0, 0, 2, 2>, color = 1 : i64} : !pe.buf<12xf32> -> !pe.token
// CHECK-NEXT:    %[[RB1:.*]] = pe.recv %[[WB1]] {pes = array<i64: 0, 0, 2, 2>, color = 3 : i64} : !pe.buf<6xf32> -> !pe.token
// CHECK-NEXT:    pe.matmul_acc %[[C]], %[[WA0]], %[[WB0]] {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 3 : i64, n = 2 : i64} : !pe.buf<8xf32>, !pe.buf<12xf32>, !pe.buf<6xf32>
// Step 1, the last: its tiles, step 0's root sends, the product of pair 1, step 1's root sends.
// CHECK-NEXT:    pe.wait %[[RA1]], %[[RB1]] {pes = array<i64: 0, 0, 2, 2>}
// CHECK-NEXT:    pe.wait %[[TA0]] {pes = array<i64: 0, 0, 2, 1>}
// CHECK-NEXT:    pe.wait %[[TB0]] {pes = array<i64: 0, 0, 1, 2>}
// CHECK-NEXT:    pe.matmul_acc %[[C]], %[[WA1]], %[[WB1]] {pes = array<i64: 0, 0, 2, 2>, m = 4 : i64, k = 3 : i64, n = 2 : i64} : !pe.buf<8xf32>, !pe.buf<12xf32>, !pe.buf<6xf32>
// CHECK-NEXT:    pe.wait %[[TA1]] {pes = array<i64: 0, 1, 2, 1>}
// CHECK-NEXT:    pe.wait %[[TB1]] {pes = array<i64: 1, 0, 1, 2>}
// CHECK-NEXT:    pe.host_out %[[C]]
// CHECK-NOT:     pe.route
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @summa(%a: tensor<8x6xf32>, %b: tensor<6x4xf32>) -> tensor<8x4xf32> {
    %0 = mesh.scatter %a : tensor<8x6xf32> -> !mesh.tensor<8x6xf32 on 2x2 split [r, c]>
    %1 = mesh.scatter %b : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 2x2 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<8x6xf32 on 2x2 split [r, c]>, !mesh.tensor<6x4xf32 on 2x2 split [r, c]>) -> !mesh.tensor<8x4xf32 on 2x2 split [r, c]> loc("net.py":9:0)
    %3 = mesh.gather %2 : !mesh.tensor<8x4xf32 on 2x2 split [r, c]> -> tensor<8x4xf32>
    func.return %3 : tensor<8x4xf32>
  }

// On 3x3 there are three steps: columns 0 and 2 send on channel 0 (the middle column passes
// both streams on), column 1 on channel 1 (it forwards both ways); rows likewise on 2 and 3.
// CHECK-LABEL: func.func @summa3
// CHECK:         pe.route ramp -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route ramp -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route west -> [east, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// CHECK-NEXT:    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 0 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK-NEXT:    pe.route east -> [west, ramp] {color = 0 : i64, pes = array<i64: 0, 1, 3, 1>}
// A middle root's rule recurs every other line on a larger grid: it is a route in a pe.loop
// (here of one trip), so the routes do not grow with the grid side.
// CHECK-NEXT:    pe.loop %{{.*}} = 0 to 1 {
// CHECK-NEXT:      pe.route ramp -> [west, east, ramp] {color = 1 : i64, pes = array<i64: 0, 1, 3, 1>, pes_step = array<i64: 0, 2, 0, 0>}
// CHECK-NEXT:      pe.yield
// CHECK-NEXT:    }
// CHECK-NEXT:    pe.route west -> [ramp] {color = 1 : i64, pes = array<i64: 0, 2, 3, 1>}
// CHECK-NEXT:    pe.route east -> [ramp] {color = 1 : i64, pes = array<i64: 0, 0, 3, 1>}
// CHECK:         pe.route ramp -> [north, south, ramp] {color = 3 : i64, pes = array<i64: 1, 0, 1, 3>, pes_step = array<i64: 2, 0, 0, 0>}
// CHECK-COUNT-3: pe.matmul_acc {{.*}} {pes = array<i64: 0, 0, 3, 3>, m = 2 : i64, k = 2 : i64, n = 2 : i64}
// CHECK-NOT:     pe.matmul_acc
  func.func @summa3(%a: tensor<6x6xf32>, %b: tensor<6x6xf32>) -> tensor<6x6xf32> {
    %0 = mesh.scatter %a : tensor<6x6xf32> -> !mesh.tensor<6x6xf32 on 3x3 split [r, c]>
    %1 = mesh.scatter %b : tensor<6x6xf32> -> !mesh.tensor<6x6xf32 on 3x3 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<6x6xf32 on 3x3 split [r, c]>, !mesh.tensor<6x6xf32 on 3x3 split [r, c]>) -> !mesh.tensor<6x6xf32 on 3x3 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<6x6xf32 on 3x3 split [r, c]> -> tensor<6x6xf32>
    func.return %3 : tensor<6x6xf32>
  }

// On 8x8: steps 1 .. 6 are a pe.loop of three trips whose body is two steps (parities 1
// and 0), carrying step k's two receive tokens and the send tokens of steps k and k-1; step 0
// and step 7 are spelled out.
// CHECK-LABEL: func.func @summa8
// CHECK:         pe.loop %{{.*}} = 0 to 3 iter_args(%[[RA:.*]] = %{{.*}}, %[[RB:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %[[PA:.*]] = %{{.*}}, %[[PB:.*]] = %{{.*}}) -> (!pe.token, !pe.token, !pe.token, !pe.token, !pe.token, !pe.token) {
// CHECK-NEXT:      pe.wait %[[RA]], %[[RB]] {pes = array<i64: 0, 0, 8, 8>}
// CHECK-NEXT:      pe.wait %[[PA]] {pes = array<i64: 0, 0, 8, 1>, pes_step = array<i64: 0, 2, 0, 0>}
// CHECK-NEXT:      pe.wait %[[PB]] {pes = array<i64: 0, 0, 1, 8>, pes_step = array<i64: 2, 0, 0, 0>}
// CHECK-NEXT:      pe.send {{.*}}pes = array<i64: 0, 2, 8, 1>, color = 0 : i64, pes_step = array<i64: 0, 2, 0, 0>}
// CHECK-COUNT-2:   pe.matmul_acc
// CHECK:           pe.yield
// CHECK-NEXT:    }
// CHECK-COUNT-1: pe.matmul_acc
// CHECK-NOT:     pe.matmul_acc
  func.func @summa8(%a: tensor<16x16xf32>, %b: tensor<16x16xf32>) -> tensor<16x16xf32> {
    %0 = mesh.scatter %a : tensor<16x16xf32> -> !mesh.tensor<16x16xf32 on 8x8 split [r, c]>
    %1 = mesh.scatter %b : tensor<16x16xf32> -> !mesh.tensor<16x16xf32 on 8x8 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<16x16xf32 on 8x8 split [r, c]>, !mesh.tensor<16x16xf32 on 8x8 split [r, c]>) -> !mesh.tensor<16x16xf32 on 8x8 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<16x16xf32 on 8x8 split [r, c]> -> tensor<16x16xf32>
    func.return %3 : tensor<16x16xf32>
  }

// On one PE: no channels, no receive buffers, one matmul_acc on the operands themselves.
// CHECK-LABEL: func.func @one_pe
// CHECK:         %[[A1:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<48xf32>
// CHECK:         %[[B1:.*]] = pe.alloc {name = "input", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<24xf32>
// CHECK:         %[[C1:.*]] = pe.alloc {name = "matmul", pes = array<i64: 0, 0, 1, 1>} : !pe.buf<32xf32>
// CHECK-NEXT:    pe.fill %[[C1]] {pes = array<i64: 0, 0, 1, 1>, value = 0.000000e+00 : f64} : !pe.buf<32xf32>
// CHECK-NEXT:    pe.matmul_acc %[[C1]], %[[A1]], %[[B1]] {pes = array<i64: 0, 0, 1, 1>, m = 8 : i64, k = 6 : i64, n = 4 : i64} : !pe.buf<32xf32>, !pe.buf<48xf32>, !pe.buf<24xf32>
// CHECK-NEXT:    pe.host_out %[[C1]]
// CHECK-NOT:     pe.route
// CHECK-NOT:     pe.send
  func.func @one_pe(%a: tensor<8x6xf32>, %b: tensor<6x4xf32>) -> tensor<8x4xf32> {
    %0 = mesh.scatter %a : tensor<8x6xf32> -> !mesh.tensor<8x6xf32 on 1x1 split [r, c]>
    %1 = mesh.scatter %b : tensor<6x4xf32> -> !mesh.tensor<6x4xf32 on 1x1 split [r, c]>
    %2 = mesh.matmul summa %0, %1 : (!mesh.tensor<8x6xf32 on 1x1 split [r, c]>, !mesh.tensor<6x4xf32 on 1x1 split [r, c]>) -> !mesh.tensor<8x4xf32 on 1x1 split [r, c]>
    %3 = mesh.gather %2 : !mesh.tensor<8x4xf32 on 1x1 split [r, c]> -> tensor<8x4xf32>
    func.return %3 : tensor<8x4xf32>
  }
}
