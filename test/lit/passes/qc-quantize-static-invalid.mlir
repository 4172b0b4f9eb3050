// qc-quantize{static=true} on layers without a usable qc.act_scale: a located error, never a crash.
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{static=true}' --verify-diagnostics

// Not calibrated: no qc.act_scale.
func.func @negative_uncalibrated(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  // expected-error @+1 {{'qc.linear' has no 'qc.act_scale' attribute (calibrate the model first)}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A zero scale would divide by zero.
func.func @negative_zero_scale(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  // expected-error @+1 {{'qc.act_scale' must be a positive finite float}}
  %y = "qc.linear"(%x, %w, %b) {qc.act_scale = 0.0 : f32} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A scale of the wrong kind (a string).
func.func @negative_string_scale(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  // expected-error @+1 {{'qc.act_scale' must be a positive finite float}}
  %y = "qc.linear"(%x, %w, %b) {qc.act_scale = "big"} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
