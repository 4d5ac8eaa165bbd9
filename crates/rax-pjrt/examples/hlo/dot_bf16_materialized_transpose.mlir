module @m {
  func.func public @main(%x: tensor<1024x256xbf16>, %dy: tensor<1024x768xbf16>) -> (tensor<256x768xbf16>) {
    %x3 = stablehlo.reshape %x : (tensor<1024x256xbf16>) -> tensor<1024x256x1xbf16>
    %t = stablehlo.transpose %x3, dims = [1, 0, 2] : (tensor<1024x256x1xbf16>) -> tensor<256x1024x1xbf16>
    %r2 = stablehlo.reshape %t : (tensor<256x1024x1xbf16>) -> tensor<256x1024xbf16>
    %0 = stablehlo.dot_general %r2, %dy, contracting_dims = [1] x [0] : (tensor<256x1024xbf16>, tensor<1024x768xbf16>) -> tensor<256x768xbf16>
    return %0 : tensor<256x768xbf16>
  }
}
