// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// The scale is one per token: [..., 1].
func.func @per_tensor_scale(%x: tensor<4x16xf32>, %g: tensor<16xf32>) -> (tensor<4x16xi8>, tensor<1xf32>) {
  // expected-error @+1 {{scale result shape must be [4, 1]}}
  %q:2 = "qc.rms_norm_quantize"(%x, %g) {eps = 1.0e-05 : f64, bits = 8 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xi8>, tensor<1xf32>)
  return %q#0, %q#1 : tensor<4x16xi8>, tensor<1xf32>
}

// -----

// gamma and beta are [D].
func.func @wrong_beta(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %b: tensor<8xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>) {
  // expected-error @+1 {{gamma and beta must have shape [16]}}
  %q:2 = "qc.layer_norm_quantize"(%x, %g, %b) {eps = 1.0e-05 : f64, bits = 8 : i64} : (tensor<4x16xf32>, tensor<16xf32>, tensor<8xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %q#0, %q#1 : tensor<4x16xi8>, tensor<4x1xf32>
}

// -----

// The quantized result is i8.
func.func @i32_result(%x: tensor<4x16xf32>, %g: tensor<16xf32>) -> (tensor<4x16xi32>, tensor<4x1xf32>) {
  // expected-error @+1 {{q must be i8 of shape [4, 16]}}
  %q:2 = "qc.rms_norm_quantize"(%x, %g) {eps = 1.0e-05 : f64, bits = 8 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xi32>, tensor<4x1xf32>)
  return %q#0, %q#1 : tensor<4x16xi32>, tensor<4x1xf32>
}

// -----

// bits and eps are checked like quantize_dynamic's and rms_norm's.
func.func @bad_bits(%x: tensor<4x16xf32>, %g: tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>) {
  // expected-error @+1 {{'bits' must be in [2, 8], got 9}}
  %q:2 = "qc.rms_norm_quantize"(%x, %g) {eps = 1.0e-05 : f64, bits = 9 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %q#0, %q#1 : tensor<4x16xi8>, tensor<4x1xf32>
}
