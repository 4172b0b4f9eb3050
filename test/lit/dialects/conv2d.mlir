// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// A 3x3 convolution with stride 2 and padding 1: 5x5 -> 3x3; attributes print sorted by name.
// CHECK-LABEL: func.func @conv2d_stride_pad
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x5x5xf32>, %[[W:.*]]: tensor<3x2x3x3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[Y:.*]] = "qc.conv2d"(%[[X]], %[[W]], %[[B]]) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
// CHECK: return %[[Y]]
func.func @conv2d_stride_pad(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// Dilation 2 and asymmetric h/w attributes: H = (7 - 2*2 - 1)/1 + 1 = 3, W = (6 + 2 - 2*2 - 1)/1 + 1 = 4.
// CHECK-LABEL: func.func @conv2d_dilation_asymmetric
// CHECK: "qc.conv2d"(%{{.*}}) {dilation = array<i64: 2, 2>, groups = 1 : i64, padding = array<i64: 0, 1>, stride = array<i64: 1, 1>} : (tensor<2x3x7x6xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x3x4xf32>
func.func @conv2d_dilation_asymmetric(%x: tensor<2x3x7x6xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) -> tensor<2x4x3x4xf32> {
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 1>, dilation = array<i64: 2, 2>, groups = 1 : i64} : (tensor<2x3x7x6xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x3x4xf32>
  return %y : tensor<2x4x3x4xf32>
}

// -----

// A 1x1 (pointwise) convolution keeps the spatial size.
// CHECK-LABEL: func.func @conv2d_pointwise
// CHECK: "qc.conv2d"{{.*}} -> tensor<1x8x4x4xf32>
func.func @conv2d_pointwise(%x: tensor<1x2x4x4xf32>, %w: tensor<8x2x1x1xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x4x4xf32>, tensor<8x2x1x1xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %y : tensor<1x8x4x4xf32>
}
