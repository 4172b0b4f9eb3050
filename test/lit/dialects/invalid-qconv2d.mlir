// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// Activations of a conv are quantized per tensor: xs is [1].
func.func @xs_per_channel(%xq: tensor<1x2x5x5xi8>, %xs: tensor<2xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{'qc.qconv2d' op xs must be a per-tensor scale [1]}}
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<2xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// Weight scales are per output channel [O].
func.func @ws_shape(%xq: tensor<1x2x5x5xi8>, %xs: tensor<1xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<2xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{'qc.qconv2d' op ws must be [O]}}
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<2xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// The conv attribute checks are shared with qc.conv2d (here: groups).
func.func @groups_two(%xq: tensor<1x2x5x5xi8>, %xs: tensor<1xf32>, %wq: tensor<2x1x1x1xi8>, %ws: tensor<2xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{'qc.qconv2d' op only groups=1 is supported, got 2}}
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<2x1x1x1xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %y : tensor<1x2x5x5xf32>
}

// -----

// The bias is checked against the weight's O (operand 4 vs operand 2).
func.func @bias_shape(%xq: tensor<1x2x5x5xi8>, %xs: tensor<1xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<3xf32>, %b: tensor<1xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{bias shape [1] must be [3]}}
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<1xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// The output size uses the stride: 5x5, k3, stride 2 -> 2x2.
func.func @result_shape_stride(%xq: tensor<1x2x5x5xi8>, %xs: tensor<1xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{result shape [1, 3, 3, 3] must be [1, 3, 2, 2]}}
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 2, 2>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}
