// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// RMSNorm + per-token quantization as one op: i8 values and one scale per token.
// CHECK-LABEL: func.func @rms_norm_quantize
// CHECK: %[[Q:.*]]:2 = "qc.rms_norm_quantize"(%arg0, %arg1) {bits = 8 : i64, eps = 1.000000e-05 : f64} : (tensor<2x3x16xf32>, tensor<16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>)
// CHECK: return %[[Q]]#0, %[[Q]]#1
func.func @rms_norm_quantize(%x: tensor<2x3x16xf32>, %g: tensor<16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>) {
  %q:2 = "qc.rms_norm_quantize"(%x, %g) {eps = 1.0e-05 : f64, bits = 8 : i64} : (tensor<2x3x16xf32>, tensor<16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>)
  return %q#0, %q#1 : tensor<2x3x16xi8>, tensor<2x3x1xf32>
}

// -----

// LayerNorm + quantization keeps gamma and beta.
// CHECK-LABEL: func.func @layer_norm_quantize
// CHECK: "qc.layer_norm_quantize"(%arg0, %arg1, %arg2) {bits = 4 : i64, eps = 1.000000e-05 : f64}
func.func @layer_norm_quantize(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>) {
  %q:2 = "qc.layer_norm_quantize"(%x, %g, %b) {eps = 1.0e-05 : f64, bits = 4 : i64} : (tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %q#0, %q#1 : tensor<4x16xi8>, tensor<4x1xf32>
}
