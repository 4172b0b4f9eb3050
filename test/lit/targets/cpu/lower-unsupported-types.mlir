// Verifier-valid qc ops the CPU lowering cannot handle must get a diagnostic at the op
// ("a pass never crashes on valid IR: it does nothing, or emits a diagnostic with the op's location").
// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg --verify-diagnostics

// A bf16 linear layer.
func.func @linear_bf16(%x: tensor<3x2xbf16>, %w: tensor<2x2xbf16>, %b: tensor<2xbf16>) -> tensor<3x2xbf16> {
  // expected-error @+1 {{qc.linear}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x2xbf16>, tensor<2x2xbf16>, tensor<2xbf16>) -> tensor<3x2xbf16>
  return %y : tensor<3x2xbf16>
}

// -----

// An f16 activation.
func.func @relu_f16(%x: tensor<4x8xf16>) -> tensor<4x8xf16> {
  // expected-error @+1 {{qc.relu}}
  %y = "qc.relu"(%x) : (tensor<4x8xf16>) -> tensor<4x8xf16>
  return %y : tensor<4x8xf16>
}

// -----

// 8-bit values stored in i16 (accepted by the quantize verifier).
func.func @quantize_into_i16(%x: tensor<4x16xf32>, %s: tensor<16xf32>) -> tensor<4x16xi16> {
  // expected-error @+1 {{qc.quantize}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi16>
  return %q : tensor<4x16xi16>
}
