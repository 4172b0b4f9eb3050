// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// An i32 accumulator requantized per tensor to 8 bits.
// CHECK-LABEL: func.func @requantize_per_tensor
// CHECK-SAME: (%[[ACC:.*]]: tensor<4x8xi32>, %[[S:.*]]: tensor<1xf32>)
// CHECK: %[[Q:.*]] = "qc.requantize"(%[[ACC]], %[[S]]) {axis = -1 : i64, bits = 8 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xi8>
// CHECK: return %[[Q]]
func.func @requantize_per_tensor(%acc: tensor<4x8xi32>, %s: tensor<1xf32>) -> tensor<4x8xi8> {
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// -----

// Per-channel requantization along the last axis written as a positive index, at 2 bits (the minimum).
// CHECK-LABEL: func.func @requantize_per_channel_2bit
// CHECK: "qc.requantize"(%{{.*}}, %{{.*}}) {axis = 1 : i64, bits = 2 : i64} : (tensor<4x8xi32>, tensor<8xf32>) -> tensor<4x8xi8>
func.func @requantize_per_channel_2bit(%acc: tensor<4x8xi32>, %s: tensor<8xf32>) -> tensor<4x8xi8> {
  %q = "qc.requantize"(%acc, %s) {bits = 2 : i64, axis = 1 : i64} : (tensor<4x8xi32>, tensor<8xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}
