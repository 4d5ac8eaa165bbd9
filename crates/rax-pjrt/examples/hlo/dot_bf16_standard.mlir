module @m {
  func.func public @main(%x: tensor<1024x256xbf16>, %w: tensor<256x768xbf16>) -> (tensor<1024x768xbf16>) {
    %0 = stablehlo.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<1024x256xbf16>, tensor<256x768xbf16>) -> tensor<1024x768xbf16>
    return %0 : tensor<1024x768xbf16>
  }
}
