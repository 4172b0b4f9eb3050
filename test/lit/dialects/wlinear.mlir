// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// The w4a16 form: K = 256 packed two per byte (wq [N, 128]), groups of 128 (scale [N, 2]), batched x.
// CHECK-LABEL: func.func @wlinear_int4_grouped
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x256xf32>, %[[WQ:.*]]: tensor<8x128xi8>, %[[S:.*]]: tensor<8x2xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[Y:.*]] = "qc.wlinear"(%[[X]], %[[WQ]], %[[S]], %[[B]]) {bits = 4 : i64, group = 128 : i64} : (tensor<2x3x256xf32>, tensor<8x128xi8>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK: return %[[Y]]
func.func @wlinear_int4_grouped(%x: tensor<2x3x256xf32>, %wq: tensor<8x128xi8>, %s: tensor<8x2xf32>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 4 : i64, group = 128 : i64} : (tensor<2x3x256xf32>, tensor<8x128xi8>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// The w8a16 form: one group per output channel (group = K, scale [N, 1]), unpacked i8 weights.
// CHECK-LABEL: func.func @wlinear_int8_per_channel
// CHECK: "qc.wlinear"({{.*}}) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
func.func @wlinear_int8_per_channel(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// An odd K (5) with a partial last group: wq [N, 3] (padded nibble), scale [N, ceil(5/2)] = [N, 3].
// CHECK-LABEL: func.func @wlinear_odd_k
// CHECK: "qc.wlinear"({{.*}}) {bits = 4 : i64, group = 2 : i64} : (tensor<5xf32>, tensor<2x3xi8>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<2xf32>
func.func @wlinear_odd_k(%x: tensor<5xf32>, %wq: tensor<2x3xi8>, %s: tensor<2x3xf32>, %b: tensor<2xf32>) -> tensor<2xf32> {
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 4 : i64, group = 2 : i64} : (tensor<5xf32>, tensor<2x3xi8>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}
