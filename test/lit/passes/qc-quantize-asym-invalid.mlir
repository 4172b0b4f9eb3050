// RUN: not qcomp-opt %s -p 'qc-quantize{wbits=4,abits=16,group=2,sym=false}' 2>&1 | filecheck %s
// RUN: not qcomp-opt %s -p 'qc-quantize{wbits=4,abits=8,sym=false}' 2>&1 | filecheck %s --check-prefix=A8

// A recorded range for another group size is a one-line error at the layer.
// CHECK: error: {{.*}}'qc.weight_range' must hold 1x2x2 finite (lo, hi) pairs
// Zero points are for weight-only layers: int8 activations take symmetric weights.
// A8: qc-quantize: sym=false applies to weight-only quantization (abits=16)
func.func @wrong_range(%x: tensor<4x4xf32>) -> tensor<4x1xf32> {
  %w = arith.constant dense<[[0.0, 3.0, -1.5, 0.0]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.weight_range = dense<[[[0.0, 1.5]]]> : tensor<1x1x2xf32>} : (tensor<4x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}
