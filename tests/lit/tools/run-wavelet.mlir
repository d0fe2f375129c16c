// RUN: python %S/../Inputs/each-chunk.py %s pyflame-run | filecheck %s

// The target's fidelity picks the simulator's engine: the same point-to-point program of 40
// wavelets runs on the wavelet-level reference engine, whose cycles follow the spec
// (c + ramp + hop + w + ramp + activation = 5 + 2 + 1 + 40 + 2 + 10); an unknown fidelity is a
// located parse error.

// CHECK-LABEL: chunk 1
// CHECK:       cycles        60
// CHECK:       exit status: 0
builtin.module attributes {pf.target = #pf.target<"small", fidelity = "wavelet">} {
  func.func @main() {
    %a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>, offset = 0 : i64} : !pe.buf<40xf32>
    pe.route ramp -> [east] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>}
    pe.route west -> [ramp] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>}
    pe.send %a {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<40xf32>
    pe.recv %a {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<40xf32>
    func.return
  }
}

// -----

// CHECK-LABEL: chunk 2
// CHECK:       run-wavelet.mlir:[[# @LINE + 3]]:{{[0-9]+}}: error: unknown fidelity 'slow' (one of fast, wavelet)
// CHECK-NOT:   internal error
// CHECK:       exit status: 1
builtin.module attributes {pf.target = #pf.target<"small", fidelity = "slow">} {
  func.func @main() {
    func.return
  }
}
