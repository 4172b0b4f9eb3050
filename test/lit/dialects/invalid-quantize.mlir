// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// qc.quantize takes floats; quantizing an already-integer tensor is a type error.
func.func @quantize_int_input(%x: tensor<4x16xi32>, %s: tensor<1xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{'qc.quantize' op operand 'x' must have a float element type}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xi32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// The scale is a float tensor.
func.func @quantize_int_scale(%x: tensor<4x16xf32>, %s: tensor<1xi32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{operand 'scale' must have a float element type}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xi32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// More than 8 bits is out of range.
func.func @quantize_bits_9(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{'qc.quantize' op 'bits' must be in [2, 8], got 9}}
  %q = "qc.quantize"(%x, %s) {bits = 9 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// 1 bit has no symmetric range ([-0, 0]).
func.func @quantize_bits_1(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{'bits' must be in [2, 8], got 1}}
  %q = "qc.quantize"(%x, %s) {bits = 1 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// An i4 result cannot hold 8-bit values.
func.func @quantize_result_too_narrow(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xi4> {
  // expected-error @+1 {{result element type cannot hold 8-bit values}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi4>
  return %q : tensor<4x16xi4>
}

// -----

// A float result is not a quantized value.
func.func @quantize_result_float(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{result element type cannot hold 4-bit values}}
  %q = "qc.quantize"(%x, %s) {bits = 4 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xf32>
  return %q : tensor<4x16xf32>
}

// -----

// Quantization is elementwise: the shape is kept.
func.func @quantize_result_shape(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<64xi8> {
  // expected-error @+1 {{'qc.quantize' op result shape must equal the input shape}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<64xi8>
  return %q : tensor<64xi8>
}

// -----

// A per-channel axis must exist in x (rank 2: -2..1).
func.func @quantize_axis_out_of_range(%x: tensor<4x16xf32>, %s: tensor<4xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{'axis' 2 out of range for rank 2}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = 2 : i64} : (tensor<4x16xf32>, tensor<4xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// A per-channel scale has the size of its axis (16 on axis -1, not 4).
func.func @quantize_scale_size(%x: tensor<4x16xf32>, %s: tensor<4xf32>) -> tensor<4x16xi8> {
  // expected-error @+1 {{scale must be [1] (per-tensor) or [16] (per-channel on axis -1), got [4]}}
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<4xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// quantize_dynamic quantizes floats.
func.func @dynamic_int_input(%x: tensor<4x16xi8>) -> tensor<4x1xf32> {
  // expected-error @+1 {{'qc.quantize_dynamic' op operand 'x' must have a float element type}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xi8>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %s : tensor<4x1xf32>
}

// -----

// quantize_dynamic has the same bit range as quantize.
func.func @dynamic_bits_16(%x: tensor<4x16xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{'qc.quantize_dynamic' op 'bits' must be in [2, 8], got 16}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 16 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %s : tensor<4x1xf32>
}

// -----

// Only per-token and per-tensor granularities exist for activations.
func.func @dynamic_bad_granularity(%x: tensor<4x16xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{'granularity' must be per_token or per_tensor, got 'per_channel'}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_channel"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %s : tensor<4x1xf32>
}

// -----

// A per-token scale keeps a trailing unit dim: [4, 1], not [4].
func.func @dynamic_per_token_scale_shape(%x: tensor<4x16xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{scale result shape [4] must be [4, 1]}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4xf32>)
  return %s : tensor<4xf32>
}

// -----

// A per-tensor scale is [1].
func.func @dynamic_per_tensor_scale_shape(%x: tensor<4x16xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{scale result shape [4, 1] must be [1]}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  return %s : tensor<4x1xf32>
}

// -----

// Dynamic quantization always produces i8.
func.func @dynamic_result_i32(%x: tensor<4x16xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{quantized result must be i8}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi32>, tensor<4x1xf32>)
  return %s : tensor<4x1xf32>
}

// -----

// The quantized result has x's shape.
func.func @dynamic_result_shape(%x: tensor<4x16xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{quantized result shape must equal the input shape}}
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x8xi8>, tensor<4x1xf32>)
  return %s : tensor<4x1xf32>
}

// -----

// dequantize reads integers.
func.func @dequantize_float_input(%q: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{'qc.dequantize' op operand 'q' must have an integer element type}}
  %y = "qc.dequantize"(%q, %s) {axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// dequantize is elementwise.
func.func @dequantize_result_shape(%q: tensor<4x16xi8>, %s: tensor<1xf32>) -> tensor<16x4xf32> {
  // expected-error @+1 {{'qc.dequantize' op result shape must equal the input shape}}
  %y = "qc.dequantize"(%q, %s) {axis = -1 : i64} : (tensor<4x16xi8>, tensor<1xf32>) -> tensor<16x4xf32>
  return %y : tensor<16x4xf32>
}

// -----

// A per-channel weight scale must match the axis it is on ([8] on axis 0).
func.func @dequantize_scale_axis(%q: tensor<8x16xi8>, %s: tensor<8xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{'qc.dequantize' op scale must be [1] (per-tensor) or [16] (per-channel on axis 1), got [8]}}
  %y = "qc.dequantize"(%q, %s) {axis = 1 : i64} : (tensor<8x16xi8>, tensor<8xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// A negative axis below -rank is out of range.
func.func @dequantize_axis_out_of_range(%q: tensor<8x16xi8>, %s: tensor<8xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{'axis' -3 out of range for rank 2}}
  %y = "qc.dequantize"(%q, %s) {axis = -3 : i64} : (tensor<8x16xi8>, tensor<8xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
