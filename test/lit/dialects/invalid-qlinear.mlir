// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// The quantized input must be i8 (an f32 x belongs to qc.linear).
func.func @float_xq(%xq: tensor<4x16xf32>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.qlinear' op xq and wq must be i8}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xf32>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The quantized weight must be i8 (4-bit weights are stored in i8 too).
func.func @i4_wq(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi4>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{xq and wq must be i8}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi4>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// K of xq and wq must agree.
func.func @k_mismatch(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x15xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{input features [16] do not match weight [N, K] = [8, 15]}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x15xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A per-token scale keeps the trailing unit dim ([4, 1], not [4]).
func.func @xs_shape(%xq: tensor<4x16xi8>, %xs: tensor<4xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{xs must be [..., 1] or [1], got [4]}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Weight scales are per output channel [N].
func.func @ws_shape(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{ws and b must have shape [8]}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The bias is [N] too.
func.func @bias_shape(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{ws and b must have shape [8]}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The result is [..., N].
func.func @result_shape(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{result shape [4, 16] must be [4, 8]}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// The fused activation is one of the four the epilogue implements.
func.func @bad_act(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'act' must be one of ('none', 'relu', 'gelu', 'silu')}}
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "tanh"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
