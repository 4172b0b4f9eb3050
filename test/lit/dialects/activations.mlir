// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// Softmax along the last axis written as -1 (what qc-from-torch emits).
// CHECK-LABEL: func.func @softmax_minus_one
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x6x6xf32>)
// CHECK: %[[Y:.*]] = "qc.softmax"(%[[X]]) {axis = -1 : i64} : (tensor<2x4x6x6xf32>) -> tensor<2x4x6x6xf32>
// CHECK: return %[[Y]]
func.func @softmax_minus_one(%x: tensor<2x4x6x6xf32>) -> tensor<2x4x6x6xf32> {
  %y = "qc.softmax"(%x) {axis = -1 : i64} : (tensor<2x4x6x6xf32>) -> tensor<2x4x6x6xf32>
  return %y : tensor<2x4x6x6xf32>
}

// -----

// The last axis may also be written as rank - 1.
// CHECK-LABEL: func.func @softmax_rank_minus_one
// CHECK: "qc.softmax"(%{{.*}}) {axis = 1 : i64} : (tensor<3x5xf32>) -> tensor<3x5xf32>
func.func @softmax_rank_minus_one(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  %y = "qc.softmax"(%x) {axis = 1 : i64} : (tensor<3x5xf32>) -> tensor<3x5xf32>
  return %y : tensor<3x5xf32>
}

// -----

// GELU in both forms: the erf form ("none") and the tanh approximation.
// CHECK-LABEL: func.func @gelu_both_forms
// CHECK: %[[E:.*]] = "qc.gelu"(%{{.*}}) {approximate = "none"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: "qc.gelu"(%[[E]]) {approximate = "tanh"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
func.func @gelu_both_forms(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = "qc.gelu"(%x) {approximate = "none"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  %t = "qc.gelu"(%e) {approximate = "tanh"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %t : tensor<4x8xf32>
}

// -----

// SiLU and ReLU take no attributes; f16 is a valid float element type.
// CHECK-LABEL: func.func @silu_relu_f16
// CHECK: %[[S:.*]] = "qc.silu"(%{{.*}}) : (tensor<4x8xf16>) -> tensor<4x8xf16>
// CHECK: %[[R:.*]] = "qc.relu"(%[[S]]) : (tensor<4x8xf16>) -> tensor<4x8xf16>
// CHECK: return %[[R]]
func.func @silu_relu_f16(%x: tensor<4x8xf16>) -> tensor<4x8xf16> {
  %s = "qc.silu"(%x) : (tensor<4x8xf16>) -> tensor<4x8xf16>
  %r = "qc.relu"(%s) : (tensor<4x8xf16>) -> tensor<4x8xf16>
  return %r : tensor<4x8xf16>
}
