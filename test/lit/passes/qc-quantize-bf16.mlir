// qc-quantize must not crash on a verifier-valid layer with a bf16 constant weight: it either
// leaves the layer alone or quantizes it.
// RUN: qcomp-opt %s -p qc-quantize | filecheck %s

// CHECK-LABEL: func.func @linear_bf16_weight
// CHECK: "qc.{{q?}}linear"
func.func @linear_bf16_weight(%x: tensor<3x2xbf16>) -> tensor<3x2xbf16> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xbf16>
  %b = arith.constant dense<0.0> : tensor<2xbf16>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x2xbf16>, tensor<2x2xbf16>, tensor<2xbf16>) -> tensor<3x2xbf16>
  return %y : tensor<3x2xbf16>
}
