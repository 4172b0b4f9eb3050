// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// qc.add does not broadcast: a bias-like [D] rhs stays host code.
func.func @add_broadcast(%a: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.add' op operands must have the same shape}}
  %y = "qc.add"(%a, %b) : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Integer lhs is rejected.
func.func @add_int_lhs(%a: tensor<4x8xi32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{operand 'lhs' must have a float element type}}
  %y = "qc.add"(%a, %b) : (tensor<4x8xi32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Integer rhs is rejected.
func.func @mul_int_rhs(%a: tensor<4x8xf32>, %b: tensor<4x8xi8>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.mul' op operand 'rhs' must have a float element type}}
  %y = "qc.mul"(%a, %b) : (tensor<4x8xf32>, tensor<4x8xi8>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Same shape, but transposed dims are still different shapes.
func.func @mul_transposed(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.mul' op operands must have the same shape}}
  %y = "qc.mul"(%a, %b) : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The result keeps the operands' shape.
func.func @mul_result_shape(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{result shape must equal the input shape}}
  %y = "qc.mul"(%a, %b) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}
