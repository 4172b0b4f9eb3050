// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// An integer input must go through qc.qlinear, not qc.linear.
func.func @int_input(%x: tensor<4x16xi8>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.linear' op operand 'x' must have a float element type}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xi8>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// An int8 weight belongs to qc.qlinear.
func.func @int_weight(%x: tensor<4x16xf32>, %w: tensor<8x16xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{operand 'w' must have a float element type}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The bias is float too.
func.func @int_bias(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xi32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{operand 'b' must have a float element type}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xi32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The weight is always [N, K]; a rank-3 weight is rejected.
func.func @weight_rank3(%x: tensor<4x16xf32>, %w: tensor<8x16x2xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{weight must be rank 2 [N, K], got rank 3}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16x2xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The contraction size K of x and w must agree.
func.func @k_mismatch(%x: tensor<4x16xf32>, %w: tensor<8x15xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{input features [16] do not match weight K=[15]}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x15xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The bias has one entry per output feature N.
func.func @bias_shape(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{bias shape [4] must be [N] = [8]}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The result is [..., N]: a wrong N is rejected.
func.func @result_shape(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x9xf32> {
  // expected-error @+1 {{result shape [4, 9] must be [4, 8]}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x9xf32>
  return %y : tensor<4x9xf32>
}

// -----

// The leading dims of x must be kept in the result (no implicit flattening).
func.func @result_drops_batch(%x: tensor<2x3x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<6x8xf32> {
  // expected-error @+1 {{result shape [6, 8] must be [2, 3, 8]}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x3x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<6x8xf32>
  return %y : tensor<6x8xf32>
}
