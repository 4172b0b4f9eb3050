// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// The smoothing scale has one entry per channel of the last dim.
func.func @channel_scale_shape(%x: tensor<4x8xf32>, %s: tensor<4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.channel_scale' op scale must have the shape of the last dim}}
  %y = "qc.channel_scale"(%x, %s) : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Smoothing happens before quantization: an int8 x is rejected.
func.func @channel_scale_int_input(%x: tensor<4x8xi8>, %s: tensor<8xf32>) -> tensor<4x8xi8> {
  // expected-error @+1 {{operand 'x' must have a float element type}}
  %y = "qc.channel_scale"(%x, %s) : (tensor<4x8xi8>, tensor<8xf32>) -> tensor<4x8xi8>
  return %y : tensor<4x8xi8>
}

// -----

// The scale is float too.
func.func @channel_scale_int_scale(%x: tensor<4x8xf32>, %s: tensor<8xi32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{operand 's' must have a float element type}}
  %y = "qc.channel_scale"(%x, %s) : (tensor<4x8xf32>, tensor<8xi32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A repeated index is not a permutation.
func.func @channel_permute_duplicate(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{'qc.channel_permute' op 'perm' must be a permutation of the last dim}}
  %y = "qc.channel_permute"(%x) {perm = array<i64: 0, 0, 2>} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// The permutation covers the whole last dim.
func.func @channel_permute_short(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{'perm' must be a permutation of the last dim}}
  %y = "qc.channel_permute"(%x) {perm = array<i64: 1, 0>} : (tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Permuting channels keeps the shape.
func.func @channel_permute_result_shape(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  // expected-error @+1 {{result shape must equal the input shape}}
  %y = "qc.channel_permute"(%x) {perm = array<i64: 2, 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
