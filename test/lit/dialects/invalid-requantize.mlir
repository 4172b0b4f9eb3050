// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// requantize reads i32 accumulators; an i8 input is already quantized.
func.func @acc_i8(%acc: tensor<4x8xi8>, %s: tensor<1xf32>) -> tensor<4x8xi8> {
  // expected-error @+1 {{'qc.requantize' op operand 'acc' must be i32}}
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xi8>, tensor<1xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// -----

// A float accumulator is rejected too.
func.func @acc_f32(%acc: tensor<4x8xf32>, %s: tensor<1xf32>) -> tensor<4x8xi8> {
  // expected-error @+1 {{operand 'acc' must be i32}}
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xf32>, tensor<1xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// -----

// bits follows the same [2, 8] range as quantize.
func.func @bits_0(%acc: tensor<4x8xi32>, %s: tensor<1xf32>) -> tensor<4x8xi8> {
  // expected-error @+1 {{'qc.requantize' op 'bits' must be in [2, 8], got 0}}
  %q = "qc.requantize"(%acc, %s) {bits = 0 : i64, axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// -----

// requantize is elementwise.
func.func @result_shape(%acc: tensor<4x8xi32>, %s: tensor<1xf32>) -> tensor<8x4xi8> {
  // expected-error @+1 {{'qc.requantize' op result shape must equal the input shape}}
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<8x4xi8>
  return %q : tensor<8x4xi8>
}

// -----

// A per-channel scale must match the axis size.
func.func @scale_size(%acc: tensor<4x8xi32>, %s: tensor<4xf32>) -> tensor<4x8xi8> {
  // expected-error @+1 {{'qc.requantize' op scale must be [1] (per-tensor) or [8] (per-channel on axis -1), got [4]}}
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xi32>, tensor<4xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// -----

// The axis must exist in acc.
func.func @axis_out_of_range(%acc: tensor<4x8xi32>, %s: tensor<4xf32>) -> tensor<4x8xi8> {
  // expected-error @+1 {{'axis' 5 out of range for rank 2}}
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = 5 : i64} : (tensor<4x8xi32>, tensor<4xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}
