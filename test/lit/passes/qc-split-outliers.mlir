// qc-split-outliers: LLM.int8()-style split of a linear layer at its calibrated outlier input channels
// (max|x_j| > threshold). The outlier channels are moved last (folded into x's producer, else a
// qc.channel_permute), x is sliced in two, the regular part keeps the bias and the sliced statistics
// (its static scale recomputed as max/127), the outlier part runs in fp32 with a zero bias, and a
// qc.add sums them. K is tiny here, so max_fraction=0.5 lets one (or two) outliers of 3 or 4 qualify.
// RUN: qcomp-opt %s --split-input-file -p 'qc-split-outliers{threshold=6.0,max_fraction=0.5}' | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p qc-split-outliers | filecheck %s --check-prefix=DEFAULT

// With the default max_fraction=0.1 no layer here qualifies: one outlier of K <= 4 channels is already
// a fraction of 0.25 or more.
// DEFAULT-NOT: tensor.extract_slice
// DEFAULT-NOT: qc.channel_permute

// Channel 1 (max 8 > 6) is the outlier: perm = [0, 2, 3, 1]. The producing linear only feeds this
// layer, so its rows and bias take the permutation; the consumer's columns follow. The regular part
// keeps max [1, 2, 0.5] -> act_scale 2/127 = 0.0157480314 (was 8/127); the outlier part gets column 1.
// CHECK-LABEL: func.func @fold_into_producer_rows
// CHECK: %[[BIAS:.*]] = arith.constant dense<[1.000000e+00, -1.000000e+00]> : tensor<2xf32>
// CHECK: %[[WP:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00], [3.000000e+00, 0.000000e+00], [4.000000e+00, 0.000000e+00], [2.000000e+00, 0.000000e+00]]> : tensor<4x2xf32>
// CHECK: %[[BP:.*]] = arith.constant dense<[1.000000e-01, 3.000000e-01, 4.000000e-01, 2.000000e-01]> : tensor<4xf32>
// CHECK: %[[H:.*]] = "qc.linear"(%{{.*}}, %[[WP]], %[[BP]])
// CHECK-NOT: qc.channel_permute
// CHECK: %[[LO:.*]] = tensor.extract_slice %[[H]][0, 0] [3, 3] [1, 1] : tensor<3x4xf32> to tensor<3x3xf32>
// CHECK: %[[HI:.*]] = tensor.extract_slice %[[H]][0, 3] [3, 1] [1, 1] : tensor<3x4xf32> to tensor<3x1xf32>
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<2xf32>
// CHECK: %[[WHI:.*]] = arith.constant dense<{{\[}}[2.000000e+00], [6.000000e+00]]> : tensor<2x1xf32>
// CHECK: %[[B:.*]] = "qc.linear"(%[[HI]], %[[WHI]], %[[ZERO]]) {qc.precision = "fp32"} : (tensor<3x1xf32>, tensor<2x1xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK: %[[WLO:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 7.000000e+00, 8.000000e+00]]> : tensor<2x3xf32>
// CHECK: %[[A:.*]] = "qc.linear"(%[[LO]], %[[WLO]], %[[BIAS]]) {qc.act_absmax = dense<[1.000000e+00, 2.000000e+00, 5.000000e-01]> : tensor<3xf32>, qc.act_scale = 0.0157480314 : f32} : (tensor<3x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK: %[[Y:.*]] = "qc.add"(%[[A]], %[[B]]) : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK: return %[[Y]]
func.func @fold_into_producer_rows(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %wp = arith.constant dense<[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]]> : tensor<4x2xf32>
  %bp = arith.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %h = "qc.linear"(%x, %wp, %bp) : (tensor<3x2xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %y = "qc.linear"(%h, %w, %b) {qc.act_absmax = dense<[1.0, 8.0, 2.0, 0.5]> : tensor<4xf32>, qc.act_scale = 0.0629921257 : f32} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// The same layer, but the producer's output is also returned, so the producer must not change: the
// permutation [0, 2, 3, 1] becomes an explicit qc.channel_permute that the slices read.
// CHECK-LABEL: func.func @runtime_permute_shared_producer
// CHECK: %[[H:.*]] = "qc.linear"(%{{.*}}, %[[WP:.*]], %[[BP:.*]]) :
// CHECK: %[[P:.*]] = "qc.channel_permute"(%[[H]]) {perm = array<i64: 0, 2, 3, 1>} : (tensor<3x4xf32>) -> tensor<3x4xf32>
// CHECK: %[[LO:.*]] = tensor.extract_slice %[[P]][0, 0] [3, 3] [1, 1]
// CHECK: %[[HI:.*]] = tensor.extract_slice %[[P]][0, 3] [3, 1] [1, 1]
// CHECK: %[[B:.*]] = "qc.linear"(%[[HI]], %{{.*}}, %{{.*}}) {qc.precision = "fp32"}
// CHECK: %[[A:.*]] = "qc.linear"(%[[LO]], %{{.*}}, %{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 2.000000e+00, 5.000000e-01]> : tensor<3xf32>, qc.act_scale = 0.0157480314 : f32}
// CHECK: %[[Y:.*]] = "qc.add"(%[[A]], %[[B]])
// CHECK: return %[[H]], %[[Y]]
func.func @runtime_permute_shared_producer(%x: tensor<3x2xf32>) -> (tensor<3x4xf32>, tensor<3x2xf32>) {
  %wp = arith.constant dense<[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]]> : tensor<4x2xf32>
  %bp = arith.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %h = "qc.linear"(%x, %wp, %bp) : (tensor<3x2xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %y = "qc.linear"(%h, %w, %b) {qc.act_absmax = dense<[1.0, 8.0, 2.0, 0.5]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %h, %y : tensor<3x4xf32>, tensor<3x2xf32>
}

// -----

// The outlier (channel 2, max 9) is already last: no permutation at all. Two layers read x, so they
// share one pair of slices; each gets its own fp32 part (its column 2) and qc.add. Regular max
// [1, 2.54] -> act_scale 2.54/127 = 0.02.
// CHECK-LABEL: func.func @already_last_shared_slices
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NOT: qc.channel_permute
// CHECK: %[[LO:.*]] = tensor.extract_slice %[[X]][0, 0] [2, 2] [1, 1] : tensor<2x3xf32> to tensor<2x2xf32>
// CHECK: %[[HI:.*]] = tensor.extract_slice %[[X]][0, 2] [2, 1] [1, 1] : tensor<2x3xf32> to tensor<2x1xf32>
// CHECK: %[[W1HI:.*]] = arith.constant dense<3.000000e+00> : tensor<1x1xf32>
// CHECK: %[[B1:.*]] = "qc.linear"(%[[HI]], %[[W1HI]], %{{.*}}) {qc.precision = "fp32"}
// CHECK: %[[W1LO:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK: %[[A1:.*]] = "qc.linear"(%[[LO]], %[[W1LO]], %{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 2.540000e+00]> : tensor<2xf32>, qc.act_scale = 2.000000e-02 : f32}
// CHECK: %[[Y1:.*]] = "qc.add"(%[[A1]], %[[B1]])
// CHECK: %[[W2HI:.*]] = arith.constant dense<6.000000e+00> : tensor<1x1xf32>
// CHECK: %[[B2:.*]] = "qc.linear"(%[[HI]], %[[W2HI]], %{{.*}}) {qc.precision = "fp32"}
// CHECK: %[[W2LO:.*]] = arith.constant dense<{{\[}}[4.000000e+00, 5.000000e+00]]> : tensor<1x2xf32>
// CHECK: %[[A2:.*]] = "qc.linear"(%[[LO]], %[[W2LO]], %{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 2.540000e+00]> : tensor<2xf32>, qc.act_scale = 2.000000e-02 : f32}
// CHECK: %[[Y2:.*]] = "qc.add"(%[[A2]], %[[B2]])
// CHECK-NOT: tensor.extract_slice
// CHECK: return %[[Y1]], %[[Y2]]
func.func @already_last_shared_slices(%x: tensor<2x3xf32>) -> (tensor<2x1xf32>, tensor<2x1xf32>) {
  %w1 = arith.constant dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>
  %w2 = arith.constant dense<[[4.0, 5.0, 6.0]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.5> : tensor<1xf32>
  %y1 = "qc.linear"(%x, %w1, %b) {qc.act_absmax = dense<[1.0, 2.54, 9.0]> : tensor<3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  %y2 = "qc.linear"(%x, %w2, %b) {qc.act_absmax = dense<[1.0, 2.54, 9.0]> : tensor<3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y1, %y2 : tensor<2x1xf32>, tensor<2x1xf32>
}

// -----

// Batched tokens [B, T, K]: the slices cut the last dimension only. Channel 0 (max 7) is the outlier
// (1 of 2 = max_fraction), the argument x gets a runtime permute [1, 0].
// CHECK-LABEL: func.func @batched
// CHECK: %[[P:.*]] = "qc.channel_permute"(%{{.*}}) {perm = array<i64: 1, 0>} : (tensor<2x3x2xf32>) -> tensor<2x3x2xf32>
// CHECK: tensor.extract_slice %[[P]][0, 0, 0] [2, 3, 1] [1, 1, 1] : tensor<2x3x2xf32> to tensor<2x3x1xf32>
// CHECK: tensor.extract_slice %[[P]][0, 0, 1] [2, 3, 1] [1, 1, 1] : tensor<2x3x2xf32> to tensor<2x3x1xf32>
// CHECK: "qc.linear"({{.*}}) {qc.precision = "fp32"} : (tensor<2x3x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<2x3x1xf32>
// CHECK: "qc.linear"({{.*}}) {qc.act_absmax = dense<1.000000e+00> : tensor<1xf32>, qc.act_scale = 0.00787401571 : f32} : (tensor<2x3x1xf32>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<2x3x1xf32>
// CHECK: "qc.add"
func.func @batched(%x: tensor<2x3x2xf32>) -> tensor<2x3x1xf32> {
  %w = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.5> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[7.0, 1.0]> : tensor<2xf32>} : (tensor<2x3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x3x1xf32>
  return %y : tensor<2x3x1xf32>
}

// -----

// No channel is above the threshold (6.0 is not > 6.0): the layer is left alone.
// CHECK-LABEL: func.func @negative_none_above_threshold
// CHECK-NOT: tensor.extract_slice
// CHECK: "qc.linear"(%{{.*}}) {qc.act_absmax = dense<[6.000000e+00, 1.000000e+00, 2.000000e+00]> : tensor<3xf32>}
// CHECK-NOT: "qc.add"
func.func @negative_none_above_threshold(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.5> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[6.0, 1.0, 2.0]> : tensor<3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// Three outliers of four channels: 3 > 0.5 · 4, the float path would cost more than it saves.
// CHECK-LABEL: func.func @negative_too_many_outliers
// CHECK-NOT: qc.channel_permute
// CHECK-NOT: tensor.extract_slice
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<1x4xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}}) {qc.act_absmax = dense<[7.000000e+00, 1.000000e+00, 8.000000e+00, 9.000000e+00]> : tensor<4xf32>}
// CHECK-NOT: "qc.add"
func.func @negative_too_many_outliers(%x: tensor<2x4xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0]]> : tensor<1x4xf32>
  %b = arith.constant dense<0.5> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[7.0, 1.0, 8.0, 9.0]> : tensor<4xf32>} : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// Two chained layers that both split: the consumer is handled first, so its permutation folds into the
// producer's rows (no qc.channel_permute of half the producer's output) and the producer's split then
// feeds the consumer through its qc.add of both parts.
// CHECK-LABEL: func.func @chain
// CHECK-NOT: qc.channel_permute
// CHECK: %[[PO:.*]] = "qc.linear"{{.*}}qc.precision = "fp32"
// CHECK: %[[P:.*]] = "qc.linear"
// CHECK: %[[SUM:.*]] = "qc.add"(%[[P]], %[[PO]])
// CHECK: tensor.extract_slice %[[SUM]][0, 0] [3, 3] [1, 1]
// CHECK: tensor.extract_slice %[[SUM]][0, 3] [3, 1] [1, 1]
func.func @chain(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %wp = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0], [4.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %bp = arith.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %h = "qc.linear"(%x, %wp, %bp) {qc.act_absmax = dense<[1.0, 2.0, 3.0, 9.0]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %y = "qc.linear"(%h, %w, %b) {qc.act_absmax = dense<[1.0, 8.0, 2.0, 0.5]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
