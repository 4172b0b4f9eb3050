// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// The form qc-quantize produces: per-token xs [M, 1], per-channel ws [N], act = "none".
// CHECK-LABEL: func.func @qlinear_per_token
// CHECK-SAME: (%[[XQ:.*]]: tensor<4x16xi8>, %[[XS:.*]]: tensor<4x1xf32>, %[[WQ:.*]]: tensor<8x16xi8>, %[[WS:.*]]: tensor<8xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[Y:.*]] = "qc.qlinear"(%[[XQ]], %[[XS]], %[[WQ]], %[[WS]], %[[B]]) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK: return %[[Y]]
func.func @qlinear_per_token(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A per-tensor activation scale [1] with batched input [B, T, K].
// CHECK-LABEL: func.func @qlinear_per_tensor_batched
// CHECK: "qc.qlinear"({{.*}}) {act = "none"} : (tensor<2x3x16xi8>, tensor<1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
func.func @qlinear_per_tensor_batched(%xq: tensor<2x3x16xi8>, %xs: tensor<1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<2x3x16xi8>, tensor<1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// Every fused epilogue activation is accepted, and the qc.precision tag from qc-quantize is kept.
// CHECK-LABEL: func.func @qlinear_activations
// CHECK: "qc.qlinear"({{.*}}) {act = "relu", qc.precision = "w8a8"}
// CHECK: "qc.qlinear"({{.*}}) {act = "gelu"}
// CHECK: "qc.qlinear"({{.*}}) {act = "silu", qc.precision = "w4a8"}
func.func @qlinear_activations(%xq: tensor<1x4xi8>, %xs: tensor<1x1xf32>, %wq: tensor<2x4xi8>, %ws: tensor<2xf32>, %b: tensor<2xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>) {
  %r = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "relu", qc.precision = "w8a8"} : (tensor<1x4xi8>, tensor<1x1xf32>, tensor<2x4xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %g = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "gelu"} : (tensor<1x4xi8>, tensor<1x1xf32>, tensor<2x4xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %s = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "silu", qc.precision = "w4a8"} : (tensor<1x4xi8>, tensor<1x1xf32>, tensor<2x4xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  return %r, %g, %s : tensor<1x2xf32>, tensor<1x2xf32>, tensor<1x2xf32>
}
