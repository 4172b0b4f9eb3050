// RUN: not qcomp-opt %s -p 'qc-quantize{wbits=8,abits=8,group=2,sym=false}' 2>&1 | filecheck %s

// 8-bit codes minus 8-bit zero points span [-255, 255]: the int8 kernels that run each group take <= 7 bits.
// CHECK: qc-quantize: sym=false with abits=8 needs wbits <= 7 (q - z must fit the int8 kernels)
func.func @negative_wbits_8(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[3.5, -1.0, -0.875, 0.25]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
