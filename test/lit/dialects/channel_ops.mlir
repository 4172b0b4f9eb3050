// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// SmoothQuant's explicit smoothing: x [..., C] times a per-channel scale s [C].
// CHECK-LABEL: func.func @channel_scale
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xf32>, %[[S:.*]]: tensor<8xf32>)
// CHECK: %[[Y:.*]] = "qc.channel_scale"(%[[X]], %[[S]]) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK: return %[[Y]]
func.func @channel_scale(%x: tensor<2x3x8xf32>, %s: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.channel_scale"(%x, %s) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// A permutation of the last dim; the order of `perm` entries is preserved exactly.
// CHECK-LABEL: func.func @channel_permute
// CHECK: "qc.channel_permute"(%{{.*}}) {perm = array<i64: 3, 0, 2, 1>} : (tensor<5x4xf32>) -> tensor<5x4xf32>
func.func @channel_permute(%x: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %y = "qc.channel_permute"(%x) {perm = array<i64: 3, 0, 2, 1>} : (tensor<5x4xf32>) -> tensor<5x4xf32>
  return %y : tensor<5x4xf32>
}

// -----

// channel_permute is not restricted to floats: it also moves int8 data.
// CHECK-LABEL: func.func @channel_permute_i8
// CHECK: "qc.channel_permute"(%{{.*}}) {perm = array<i64: 1, 0>} : (tensor<3x2xi8>) -> tensor<3x2xi8>
func.func @channel_permute_i8(%x: tensor<3x2xi8>) -> tensor<3x2xi8> {
  %y = "qc.channel_permute"(%x) {perm = array<i64: 1, 0>} : (tensor<3x2xi8>) -> tensor<3x2xi8>
  return %y : tensor<3x2xi8>
}
