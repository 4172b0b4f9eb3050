// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// qc.conv2d is the float op; an int8 input belongs to qc.qconv2d.
func.func @int_input(%x: tensor<1x2x5x5xi8>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{'qc.conv2d' op operand 'x' must have a float element type}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// stride is [h, w]; torch's single-int shorthand must be expanded by the front end.
func.func @stride_one_entry(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{'stride' must have 2 entries [h, w], got 1}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// padding is symmetric per dim, [h, w]: four entries (top/bottom/left/right) are rejected.
func.func @padding_four_entries(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x5x5xf32> {
  // expected-error @+1 {{'padding' must have 2 entries [h, w], got 4}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x5x5xf32>
  return %y : tensor<1x3x5x5xf32>
}

// -----

// dilation is [h, w] as well.
func.func @dilation_three_entries(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{'dilation' must have 2 entries [h, w], got 3}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// A zero stride would divide by zero in the output size.
func.func @zero_stride(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{stride/dilation must be >= 1, padding >= 0}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 0, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// Negative padding (cropping) is not a convolution attribute.
func.func @negative_padding(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x1x3xf32> {
  // expected-error @+1 {{stride/dilation must be >= 1, padding >= 0}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: -1, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x1x3xf32>
  return %y : tensor<1x3x1x3xf32>
}

// -----

// An unbatched [C, H, W] input is not NCHW.
func.func @input_rank3(%x: tensor<2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<3x3x3xf32> {
  // expected-error @+1 {{input and weight must be rank 4 (NCHW, OIHW)}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<3x3x3xf32>
  return %y : tensor<3x3x3xf32>
}

// -----

// Grouped (e.g. depthwise) convolutions stay host code for now.
func.func @groups_two(%x: tensor<1x2x5x5xf32>, %w: tensor<2x1x1x1xf32>, %b: tensor<2xf32>) -> tensor<1x2x5x5xf32> {
  // expected-error @+1 {{only groups=1 is supported, got 2}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<1x2x5x5xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x5x5xf32>
  return %y : tensor<1x2x5x5xf32>
}

// -----

// The input channel count C must equal the weight's I.
func.func @channel_mismatch(%x: tensor<1x3x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{input channels 3 do not match weight 2 x groups 1}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// One bias entry per output channel O.
func.func @bias_shape(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{bias shape [4] must be [3]}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<4xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// The result size follows stride/padding/dilation: padding 1 keeps 5x5, so 3x3 is wrong.
func.func @result_shape(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  // expected-error @+1 {{result shape [1, 3, 3, 3] must be [1, 3, 5, 5]}}
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}
