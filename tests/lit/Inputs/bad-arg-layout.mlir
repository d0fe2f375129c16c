func.func @main(%a: tensor<4xf32> {flame.layout = 5 : i64}) -> tensor<4xf32> {
  %0 = flame.relu %a : tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
