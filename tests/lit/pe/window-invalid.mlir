// RUN: pyflame-opt %s --verify-diagnostics --parsing-diagnostics --split-input-file | filecheck %s

// A window of pe.send / pe.recv is a non-empty slice of the buffer that starts on a wavelet.

// CHECK: window [4, 7] must be a non-empty slice of the buffer's 10 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<10xf32>
pe.send %a window [4, 7] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<10xf32>

// -----

// CHECK: window [0, 0] must be a non-empty slice of the buffer's 10 elements
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<10xf32>
pe.recv %a window [0, 0] {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf32>

// -----

// CHECK: window [1, 7] must start on a 32-bit wavelet boundary (element 1 of 2-byte elements is not)
%h = pe.alloc {name = "h", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<10xf16>
pe.recv %h window [1, 7] combine sum {color = 0 : i64, pes = array<i64: 0, 1, 1, 1>} : !pe.buf<10xf16>

// -----

// CHECK: window must be [first element, element count]
%a = pe.alloc {name = "a", pes = array<i64: 0, 0, 1, 2>} : !pe.buf<10xf32>
pe.send %a window [4] {color = 0 : i64, pes = array<i64: 0, 0, 1, 1>} : !pe.buf<10xf32>
