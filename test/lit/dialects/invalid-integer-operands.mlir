// The integer compute ops must reject non-integer quantized operands/results, as qc.qlinear does.
// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// f32 operands in the integer matmul.
func.func @qmatmul_float_operands(%aq: tensor<4x8xf32>, %as: tensor<4x1xf32>, %bq: tensor<8x5xf32>, %bs: tensor<1x5xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{i8}}
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<8x5xf32>, tensor<1x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// f32 input in the integer conv.
func.func @qconv2d_float_input(%xq: tensor<1x2x5x5xf32>, %xs: tensor<1xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{i8}}
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// An f32 result cannot hold requantized values (qc.quantize rejects this case).
func.func @requantize_float_result(%acc: tensor<4x8xi32>, %s: tensor<1xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{result element type}}
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xf32>
  return %q : tensor<4x8xf32>
}
