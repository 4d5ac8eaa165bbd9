module @m {
  func.func public @main(%x: tensor<1024x256xbf16>, %dy: tensor<1024x768xbf16>) -> (tensor<256x768xbf16>) {
    %0 = stablehlo.dot_general %dy, %x, contracting_dims = [0] x [0] : (tensor<1024x768xbf16>, tensor<1024x256xbf16>) -> tensor<768x256xbf16>
    %t = stablehlo.transpose %0, dims = [1, 0] : (tensor<768x256xbf16>) -> tensor<256x768xbf16>
    return %t : tensor<256x768xbf16>
  }
}
