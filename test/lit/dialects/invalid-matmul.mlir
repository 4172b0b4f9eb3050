// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// qc.matmul is the float op; integer operands belong to qc.qmatmul.
func.func @int_lhs(%a: tensor<4x8xi8>, %b: tensor<8x5xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{'qc.matmul' op operand 'a' must have a float element type}}
  %y = "qc.matmul"(%a, %b) : (tensor<4x8xi8>, tensor<8x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// Same for the right-hand side.
func.func @int_rhs(%a: tensor<4x8xf32>, %b: tensor<8x5xi32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{operand 'b' must have a float element type}}
  %y = "qc.matmul"(%a, %b) : (tensor<4x8xf32>, tensor<8x5xi32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// No broadcasting of batch dims: both operands have the same rank.
func.func @rank_mismatch(%a: tensor<2x4x8xf32>, %b: tensor<8x5xf32>) -> tensor<2x4x5xf32> {
  // expected-error @+1 {{operands must have equal rank >= 2, got 3 and 2}}
  %y = "qc.matmul"(%a, %b) : (tensor<2x4x8xf32>, tensor<8x5xf32>) -> tensor<2x4x5xf32>
  return %y : tensor<2x4x5xf32>
}

// -----

// Batch dims must be equal.
func.func @batch_mismatch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x5xf32>) -> tensor<2x4x5xf32> {
  // expected-error @+1 {{batch dimensions differ: [2] vs [3]}}
  %y = "qc.matmul"(%a, %b) : (tensor<2x4x8xf32>, tensor<3x8x5xf32>) -> tensor<2x4x5xf32>
  return %y : tensor<2x4x5xf32>
}

// -----

// a's last dim must equal b's second-to-last dim.
func.func @contraction_mismatch(%a: tensor<4x8xf32>, %b: tensor<7x5xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{contraction sizes differ: K=8 vs 7}}
  %y = "qc.matmul"(%a, %b) : (tensor<4x8xf32>, tensor<7x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// The result is [..., M, N].
func.func @result_shape(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) -> tensor<5x4xf32> {
  // expected-error @+1 {{result shape [5, 4] must be [4, 5]}}
  %y = "qc.matmul"(%a, %b) : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<5x4xf32>
  return %y : tensor<5x4xf32>
}
