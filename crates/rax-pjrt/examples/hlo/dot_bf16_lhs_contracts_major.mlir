module @m {
  func.func public @main(%x: tensor<1024x256xbf16>, %dy: tensor<1024x768xbf16>) -> (tensor<256x768xbf16>) {
    %0 = stablehlo.dot_general %x, %dy, contracting_dims = [0] x [0] : (tensor<1024x256xbf16>, tensor<1024x768xbf16>) -> tensor<256x768xbf16>
    return %0 : tensor<256x768xbf16>
  }
}
