// RUN: pyflame-opt %s -p allocate-sram | filecheck %s

// An i1 buffer longer than a word (a 10-lane mask) shares bytes only with such masks, even
// when their lives do not overlap: the simulator holds blocks of word buffers lane-major
// (docs/simulator.md). The dead f32 tile's
// bytes go to the next f32 tile; the mask goes above them. A 4-lane mask fits in a word: it
// may reuse them.

// CHECK: pe.alloc {name = "tile@net.py:3", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK: pe.alloc {name = "mask@net.py:4", pes = array<i64: 0, 0, 2, 2>, offset = 64 : i64} : !pe.buf<10xi1>
// CHECK: pe.alloc {name = "next@net.py:5", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<16xf32>
// CHECK: pe.alloc {name = "small@net.py:6", pes = array<i64: 0, 0, 2, 2>, offset = 0 : i64} : !pe.buf<4xi1>
builtin.module attributes {pf.target = #pf.target<"small">} {
  func.func @main() {
    %a = pe.alloc {name = "tile@net.py:3", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.fill %a {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %m = pe.alloc {name = "mask@net.py:4", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xi1>
    pe.fill %m {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<10xi1>
    %b = pe.alloc {name = "next@net.py:5", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    pe.fill %b {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<16xf32>
    %s = pe.alloc {name = "small@net.py:6", pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xi1>
    pe.fill %s {value = 1.0 : f64, pes = array<i64: 0, 0, 2, 2>} : !pe.buf<4xi1>
    func.return
  }
}
