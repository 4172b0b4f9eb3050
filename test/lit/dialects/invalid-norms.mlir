// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// layer_norm normalizes floats only.
func.func @layer_norm_int_input(%x: tensor<2x8xi8>, %g: tensor<8xf32>) -> tensor<2x8xi8> {
  // expected-error @+1 {{'qc.layer_norm' op operand 'x' must have a float element type}}
  %y = "qc.layer_norm"(%x, %g, %g) {eps = 1.0e-05 : f64} : (tensor<2x8xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xi8>
  return %y : tensor<2x8xi8>
}

// -----

// gamma must be float.
func.func @layer_norm_int_gamma(%x: tensor<2x8xf32>, %g: tensor<8xi32>, %b: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{operand 'gamma' must have a float element type}}
  %y = "qc.layer_norm"(%x, %g, %b) {eps = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xi32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// beta must be float.
func.func @layer_norm_int_beta(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<8xi32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{operand 'beta' must have a float element type}}
  %y = "qc.layer_norm"(%x, %g, %b) {eps = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xi32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// Normalization is over the last dim only: gamma/beta are [D].
func.func @layer_norm_beta_shape(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<2x8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{gamma and beta must have shape [8]}}
  %y = "qc.layer_norm"(%x, %g, %b) {eps = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// eps = 0 would divide by zero on a constant row.
func.func @layer_norm_zero_eps(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'eps' must be positive}}
  %y = "qc.layer_norm"(%x, %g, %g) {eps = 0.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// The result has the input's shape.
func.func @layer_norm_result_shape(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<16xf32> {
  // expected-error @+1 {{result shape must equal the input shape}}
  %y = "qc.layer_norm"(%x, %g, %g) {eps = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<16xf32>
  return %y : tensor<16xf32>
}

// -----

// The result has the input's element type (no implicit casts).
func.func @layer_norm_result_type(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf16> {
  // expected-error @+1 {{result element type must equal the input's}}
  %y = "qc.layer_norm"(%x, %g, %g) {eps = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x8xf16>
  return %y : tensor<2x8xf16>
}

// -----

// rms_norm normalizes floats only.
func.func @rms_norm_int_input(%x: tensor<2x8xi32>, %g: tensor<8xf32>) -> tensor<2x8xi32> {
  // expected-error @+1 {{'qc.rms_norm' op operand 'x' must have a float element type}}
  %y = "qc.rms_norm"(%x, %g) {eps = 1.0e-05 : f64} : (tensor<2x8xi32>, tensor<8xf32>) -> tensor<2x8xi32>
  return %y : tensor<2x8xi32>
}

// -----

// rms_norm's gamma is [D].
func.func @rms_norm_gamma_shape(%x: tensor<2x8xf32>, %g: tensor<2xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{gamma must have shape [8]}}
  %y = "qc.rms_norm"(%x, %g) {eps = 1.0e-05 : f64} : (tensor<2x8xf32>, tensor<2xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// A negative eps is rejected as well.
func.func @rms_norm_negative_eps(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{'qc.rms_norm' op 'eps' must be positive}}
  %y = "qc.rms_norm"(%x, %g) {eps = -1.0e-05 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
