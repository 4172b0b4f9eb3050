// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// The form qc-quantize produces for a conv: per-tensor xs [1], per-channel ws [O], conv attributes kept.
// CHECK-LABEL: func.func @qconv2d
// CHECK-SAME: (%[[XQ:.*]]: tensor<1x2x5x5xi8>, %[[XS:.*]]: tensor<1xf32>, %[[WQ:.*]]: tensor<3x2x3x3xi8>, %[[WS:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[Y:.*]] = "qc.qconv2d"(%[[XQ]], %[[XS]], %[[WQ]], %[[WS]], %[[B]]) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
// CHECK: return %[[Y]]
func.func @qconv2d(%xq: tensor<1x2x5x5xi8>, %xs: tensor<1xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// Discardable qc.precision rides along with the conv attributes.
// CHECK-LABEL: func.func @qconv2d_precision_tag
// CHECK: "qc.qconv2d"({{.*}}) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0>, qc.precision = "w8a8", stride = array<i64: 1, 1>} : ({{.*}}) -> tensor<2x4x3x3xf32>
func.func @qconv2d_precision_tag(%xq: tensor<2x3x3x3xi8>, %xs: tensor<1xf32>, %wq: tensor<4x3x1x1xi8>, %ws: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<2x4x3x3xf32> {
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, qc.precision = "w8a8"} : (tensor<2x3x3x3xi8>, tensor<1xf32>, tensor<4x3x1x1xi8>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x3x3xf32>
  return %y : tensor<2x4x3x3xf32>
}
