module @m {
  func.func public @main(%p: tensor<8x4x128x128xbf16>, %v: tensor<8x4x128x64xbf16>) -> (tensor<8x4x128x64xbf16>) {
    %0 = stablehlo.dot_general %p, %v, batching_dims = [0, 1] x [0, 1], contracting_dims = [2] x [2] : (tensor<8x4x128x128xbf16>, tensor<8x4x128x64xbf16>) -> tensor<8x4x128x64xbf16>
    return %0 : tensor<8x4x128x64xbf16>
  }
}
