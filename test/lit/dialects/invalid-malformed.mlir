// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// Ops whose structure does not match their definition get a located diagnostic from the guarded
// verifiers (checked before the op-specific invariants), never a Python exception.

// A required attribute ('bits') is missing.
func.func @missing_attribute(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{'qc.quantize' op requires attribute 'bits'}}
  %q = "qc.quantize"(%x, %s) {axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// qc.linear without its bias operand.
func.func @missing_operand(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.linear' op expects 3 operands and 1 results, got 2 and 1}}
  %y = "qc.linear"(%x, %w) : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// One result too many.
func.func @extra_result(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'qc.relu' op expects 1 operands and 1 results, got 1 and 2}}
  %y:2 = "qc.relu"(%x) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return %y#0 : tensor<4xf32>
}

// -----

// A scalar is not a tensor.
func.func @scalar_operand(%x: f32) -> f32 {
  // expected-error @+1 {{'qc.relu' op expects ranked tensor operands and results, got f32}}
  %y = "qc.relu"(%x) : (f32) -> f32
  return %y : f32
}

// -----

// Unranked tensors are rejected.
func.func @unranked(%x: tensor<*xf32>) -> tensor<*xf32> {
  // expected-error @+1 {{expects ranked tensor operands and results, got tensor<*xf32>}}
  %y = "qc.relu"(%x) : (tensor<*xf32>) -> tensor<*xf32>
  return %y : tensor<*xf32>
}

// -----

// Dynamic sizes are allowed in leading (row) dimensions only: the last one sizes vectors and weights.
func.func @dynamic_last_dim(%x: tensor<4x?xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'qc.relu' op expects static shapes but for leading (row) dimensions, got tensor<4x?xf32>}}
  %y = "qc.relu"(%x) : (tensor<4x?xf32>) -> tensor<4x?xf32>
  return %y : tensor<4x?xf32>
}

// -----

// A string where an integer attribute is expected.
func.func @string_bits(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{'qc.quantize' op is malformed (TypeError}}
  %q = "qc.quantize"(%x, %s) {bits = "8", axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// perm written as an ArrayAttr ([1, 0]) instead of array<i64: 1, 0>.
func.func @array_attr_perm(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  // expected-error @+1 {{'qc.channel_permute' op is malformed (TypeError}}
  %y = "qc.channel_permute"(%x) {perm = [1, 0]} : (tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// An attribute kind the Python verifier does not trip over is caught by the IRDL constraint.
func.func @float_axis(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{expected base attribute 'builtin.integer' but got 'builtin.float'}}
  %y = "qc.softmax"(%x) {axis = 1.0 : f32} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// An op name the qc dialect does not define.
func.func @unknown_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{unregistered operation 'qc.frobnicate' found in dialect ('qc') that does not allow unknown operations}}
  %y = "qc.frobnicate"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
