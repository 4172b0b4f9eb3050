// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// Softmax is only defined along the last axis.
func.func @softmax_axis0(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.softmax' op only the last axis is supported, got axis 0}}
  %y = "qc.softmax"(%x) {axis = 0 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// -2 is not the last axis of a rank-3 tensor.
func.func @softmax_axis_minus2(%x: tensor<2x4x8xf32>) -> tensor<2x4x8xf32> {
  // expected-error @+1 {{only the last axis is supported, got axis -2}}
  %y = "qc.softmax"(%x) {axis = -2 : i64} : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return %y : tensor<2x4x8xf32>
}

// -----

// Softmax of integers is not a qc op.
func.func @softmax_int(%x: tensor<4x8xi32>) -> tensor<4x8xi32> {
  // expected-error @+1 {{operand 'x' must have a float element type}}
  %y = "qc.softmax"(%x) {axis = -1 : i64} : (tensor<4x8xi32>) -> tensor<4x8xi32>
  return %y : tensor<4x8xi32>
}

// -----

// GELU's approximate is torch's "none" | "tanh", nothing else.
func.func @gelu_bad_approximate(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.gelu' op 'approximate' must be "none" or "tanh"}}
  %y = "qc.gelu"(%x) {approximate = "sigmoid"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// GELU also runs the shared unary checks after its attribute check.
func.func @gelu_result_shape(%x: tensor<4x8xf32>) -> tensor<8x4xf32> {
  // expected-error @+1 {{'qc.gelu' op result shape must equal the input shape}}
  %y = "qc.gelu"(%x) {approximate = "tanh"} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  return %y : tensor<8x4xf32>
}

// -----

// SiLU of an int8 tensor is rejected.
func.func @silu_int(%x: tensor<4x8xi8>) -> tensor<4x8xi8> {
  // expected-error @+1 {{'qc.silu' op operand 'x' must have a float element type}}
  %y = "qc.silu"(%x) : (tensor<4x8xi8>) -> tensor<4x8xi8>
  return %y : tensor<4x8xi8>
}

// -----

// ReLU cannot change the element type.
func.func @relu_result_type(%x: tensor<4x8xf32>) -> tensor<4x8xbf16> {
  // expected-error @+1 {{'qc.relu' op result element type must equal the input's}}
  %y = "qc.relu"(%x) : (tensor<4x8xf32>) -> tensor<4x8xbf16>
  return %y : tensor<4x8xbf16>
}

// -----

// ReLU cannot reshape.
func.func @relu_result_shape(%x: tensor<4x8xf32>) -> tensor<32xf32> {
  // expected-error @+1 {{'qc.relu' op result shape must equal the input shape}}
  %y = "qc.relu"(%x) : (tensor<4x8xf32>) -> tensor<32xf32>
  return %y : tensor<32xf32>
}
