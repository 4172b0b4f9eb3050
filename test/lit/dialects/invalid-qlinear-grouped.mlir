// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// One scale per output channel and group: K = 10 in groups of 4 needs ws [N, 3] (the last group partial).
func.func @ws_shape(%x: tensor<4x10xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x10xi8>, %ws: tensor<8x2xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.qlinear_grouped' op ws must be [8, 3] (groups of 4), got [8, 2]}}
  %y = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {act = "none", bits = 4 : i64, group = 4 : i64} : (tensor<4x10xi8>, tensor<4x1xf32>, tensor<8x10xi8>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A group size of 0 names no groups.
func.func @group_0(%x: tensor<4x8xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x8xi8>, %ws: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'group' must be positive, got 0}}
  %y = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {act = "none", bits = 4 : i64, group = 0 : i64} : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Codes are one per byte: K = 8 needs wq [N, 8], not int4 packed two per byte.
func.func @packed_codes(%x: tensor<4x8xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x4xi8>, %ws: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{input features [8] do not match weight [N, K] = [8, 4]}}
  %y = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {act = "none", bits = 4 : i64, group = 8 : i64} : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x4xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Bits outside [2, 8].
func.func @bits_9(%x: tensor<4x8xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x8xi8>, %ws: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'bits' must be in [2, 8], got 9}}
  %y = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {act = "none", bits = 9 : i64, group = 8 : i64} : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Float activations are not int8 codes.
func.func @float_x(%x: tensor<4x8xf32>, %xs: tensor<4x1xf32>, %wq: tensor<8x8xi8>, %ws: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{xq and wq must be i8}}
  %y = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {act = "none", bits = 4 : i64, group = 8 : i64} : (tensor<4x8xf32>, tensor<4x1xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The activation scale is per token [..., 1] or per tensor [1].
func.func @xs_shape(%x: tensor<4x8xi8>, %xs: tensor<4x8xf32>, %wq: tensor<8x8xi8>, %ws: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{xs must be [..., 1] or [1], got [4, 8]}}
  %y = "qc.qlinear_grouped"(%x, %xs, %wq, %ws, %b) {act = "none", bits = 4 : i64, group = 8 : i64} : (tensor<4x8xi8>, tensor<4x8xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
