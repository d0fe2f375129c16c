// RUN: pyflame-opt --help | filecheck %s
// RUN: pyflame-opt %s | filecheck %s --check-prefix=ROUNDTRIP

// CHECK: PyFlame modular optimizer driver
// CHECK: --print-ir-after-all

// ROUNDTRIP: func.func @f(%a: i32) -> i32
func.func @f(%a: i32) -> i32 {
  func.return %a : i32
}
