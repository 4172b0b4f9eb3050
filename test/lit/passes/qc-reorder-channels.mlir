// qc-reorder-channels: sort a linear group's input channels by calibrated max|x_j| (ascending, stable) so
// the outliers gather in the last quantization group. The permutation is folded into x's producer (a
// previous linear's rows and bias; for a pre-norm residual stream the embedding columns, gamma, the
// readers' columns and the writers' rows), else left alone unless runtime=true (qc.channel_permute).
// outlier_bits > 0 then splits each reordered layer at K − group; the last group's part gets qc.wbits.
// RUN: qcomp-opt %s --split-input-file -p qc-reorder-channels | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-reorder-channels{group=2,outlier_bits=8}' | filecheck %s --check-prefix=SPLIT
// RUN: qcomp-opt %s --split-input-file -p 'qc-reorder-channels{runtime=true}' | filecheck %s --check-prefix=RUNTIME

// max|x| = [3, 1, 4, 2] -> perm = argsort = [1, 3, 0, 2]. The producing linear only feeds this layer:
// its rows [1, 2, 3, 4] (first column) and bias [.1, .2, .3, .4] become [2, 4, 1, 3] and [.2, .4, .1, .3];
// the consumer's columns follow ([1, 2, 3, 4] -> [2, 4, 1, 3]) and its statistics become [1, 2, 3, 4]
// (a permutation keeps the per-tensor distribution: no act_scale is recomputed). No runtime op.
// CHECK-LABEL: func.func @fold_into_producer_rows
// CHECK: %[[BIAS:.*]] = arith.constant dense<[1.000000e+00, -1.000000e+00]> : tensor<2xf32>
// CHECK: %[[WP:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 0.000000e+00], [4.000000e+00, 0.000000e+00], [1.000000e+00, 0.000000e+00], [3.000000e+00, 0.000000e+00]]> : tensor<4x2xf32>
// CHECK: %[[BP:.*]] = arith.constant dense<[2.000000e-01, 4.000000e-01, 1.000000e-01, 3.000000e-01]> : tensor<4xf32>
// CHECK: %[[H:.*]] = "qc.linear"(%{{.*}}, %[[WP]], %[[BP]])
// CHECK-NOT: qc.channel_permute
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 4.000000e+00, 1.000000e+00, 3.000000e+00], [6.000000e+00, 8.000000e+00, 5.000000e+00, 7.000000e+00]]> : tensor<2x4xf32>
// CHECK: %[[Y:.*]] = "qc.linear"(%[[H]], %[[W]], %[[BIAS]]) {qc.act_absmax = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>}
// CHECK: return %[[Y]]
// With group=2 and outlier_bits=8 the reordered layer is split at K − group = 2: channels [1, 2] keep
// the bias (act_scale 2/127 = 0.0157480314), the outlier group [3, 4] gets a zero bias, its own
// statistics (4/127) and qc.wbits = 8.
// SPLIT-LABEL: func.func @fold_into_producer_rows
// SPLIT: %[[BIAS:.*]] = arith.constant dense<[1.000000e+00, -1.000000e+00]> : tensor<2xf32>
// SPLIT: %[[H:.*]] = "qc.linear"
// SPLIT: %[[LO:.*]] = tensor.extract_slice %[[H]][0, 0] [3, 2] [1, 1] : tensor<3x4xf32> to tensor<3x2xf32>
// SPLIT: %[[HI:.*]] = tensor.extract_slice %[[H]][0, 2] [3, 2] [1, 1] : tensor<3x4xf32> to tensor<3x2xf32>
// SPLIT: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<2xf32>
// SPLIT: %[[WHI:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [5.000000e+00, 7.000000e+00]]> : tensor<2x2xf32>
// SPLIT: %[[B:.*]] = "qc.linear"(%[[HI]], %[[WHI]], %[[ZERO]]) {qc.act_absmax = dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>, qc.act_scale = 0.0314960629 : f32, qc.wbits = 8 : i64}
// SPLIT: %[[WLO:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 4.000000e+00], [6.000000e+00, 8.000000e+00]]> : tensor<2x2xf32>
// SPLIT: %[[A:.*]] = "qc.linear"(%[[LO]], %[[WLO]], %[[BIAS]]) {qc.act_absmax = dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>, qc.act_scale = 0.0157480314 : f32}
// SPLIT: %[[Y:.*]] = "qc.add"(%[[A]], %[[B]])
// SPLIT: return %[[Y]]
func.func @fold_into_producer_rows(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %wp = arith.constant dense<[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]]> : tensor<4x2xf32>
  %bp = arith.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %h = "qc.linear"(%x, %wp, %bp) : (tensor<3x2xf32>, tensor<4x2xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %y = "qc.linear"(%h, %w, %b) {qc.act_absmax = dense<[3.0, 1.0, 4.0, 2.0]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Channels already in ascending order: nothing to permute, even from a function argument. With
// outlier_bits the layer is still split (last group [3, 4] at 8 bits).
// CHECK-LABEL: func.func @already_sorted
// CHECK-NOT: qc.channel_permute
// CHECK: "qc.linear"(%{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>}
// SPLIT-LABEL: func.func @already_sorted
// SPLIT-SAME: (%[[X:.*]]: tensor<3x4xf32>)
// SPLIT-NOT: qc.channel_permute
// SPLIT: tensor.extract_slice %[[X]][0, 0] [3, 2] [1, 1]
// SPLIT: tensor.extract_slice %[[X]][0, 2] [3, 2] [1, 1]
// SPLIT: "qc.linear"({{.*}}) {qc.act_absmax = dense<[3.000000e+00, 4.000000e+00]> : tensor<2xf32>, qc.act_scale = 0.0314960629 : f32, qc.wbits = 8 : i64}
// SPLIT: "qc.add"
// RUNTIME-LABEL: func.func @already_sorted
// RUNTIME-NOT: qc.channel_permute
// RUNTIME: return
func.func @already_sorted(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[1.0, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// An RMSNorm on a function argument is not a residual stream (no embedding), and a norm cannot absorb
// a permutation by itself: left alone by default. runtime=true inserts qc.channel_permute [1, 0]
// (max|x| = [4, 1]) and permutes the columns [1, 2] -> [2, 1] and the statistics -> [1, 4].
// CHECK-LABEL: func.func @negative_norm_not_residual
// CHECK-NOT: qc.channel_permute
// CHECK: %[[G:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK: %[[N:.*]] = "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK: "qc.linear"(%[[N]], %[[W]], %{{.*}}) {qc.act_absmax = dense<[4.000000e+00, 1.000000e+00]> : tensor<2xf32>}
// CHECK-NOT: qc.channel_permute
// RUNTIME-LABEL: func.func @negative_norm_not_residual
// RUNTIME: %[[G:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// RUNTIME: %[[N:.*]] = "qc.rms_norm"(%{{.*}}, %[[G]])
// RUNTIME: %[[P:.*]] = "qc.channel_permute"(%[[N]]) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// RUNTIME: %[[W:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 1.000000e+00]]> : tensor<1x2xf32>
// RUNTIME: "qc.linear"(%[[P]], %[[W]], %{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 4.000000e+00]> : tensor<2xf32>}
func.func @negative_norm_not_residual(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %g = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %w = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-6 : f64} : (tensor<3x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %y = "qc.linear"(%n, %w, %b) {qc.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>} : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// A pre-norm residual stream is permuted as a whole. Key = max over readers of max|x| / median:
// [4, 1] / 2.5 = [1.6, .4] and [2, 1] / 1.5 = [1.33, .67] -> [1.6, .67] -> perm [1, 0]. Embedding
// columns, both gammas, the readers' columns and statistics and the writer's rows and bias swap.
// CHECK-LABEL: func.func @residual_stream
// CHECK: %[[E:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 1.000000e+00], [4.000000e+00, 3.000000e+00], [6.000000e+00, 5.000000e+00]]> : tensor<3x2xf32>
// CHECK: %[[R0:.*]] = "qc.embedding"(%[[E]], %{{.*}})
// CHECK: %[[G1:.*]] = arith.constant dense<[2.000000e+00, 1.000000e+00]> : tensor<2xf32>
// CHECK: "qc.rms_norm"(%[[R0]], %[[G1]])
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 1.000000e+00], [4.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W1]], %{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 4.000000e+00]> : tensor<2xf32>}
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[}}[3.000000e+00, 4.000000e+00], [1.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[B2:.*]] = arith.constant dense<[-5.000000e-01, 5.000000e-01]> : tensor<2xf32>
// CHECK: %[[O:.*]] = "qc.linear"(%{{.*}}, %[[W2]], %[[B2]])
// CHECK: %[[R1:.*]] = "qc.add"(%[[R0]], %[[O]])
// CHECK: %[[G2:.*]] = arith.constant dense<[4.000000e+00, 3.000000e+00]> : tensor<2xf32>
// CHECK: "qc.rms_norm"(%[[R1]], %[[G2]])
// CHECK: %[[WH:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 1.000000e+00], [4.000000e+00, 3.000000e+00], [6.000000e+00, 5.000000e+00]]> : tensor<3x2xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[WH]], %{{.*}}) {qc.act_absmax = dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>}
// CHECK-NOT: qc.channel_permute
func.func @residual_stream(%ids: tensor<1x4xi64>) -> tensor<1x4x3xf32> {
  %table = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %g1 = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<0.0> : tensor<2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b2 = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %g2 = arith.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %wh = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %bh = arith.constant dense<0.0> : tensor<3xf32>
  %e = "qc.embedding"(%table, %ids) : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %n1 = "qc.rms_norm"(%e, %g1) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %h = "qc.linear"(%n1, %w1, %b1) {qc.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>} : (tensor<1x4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %a = "qc.relu"(%h) : (tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
  %o = "qc.linear"(%a, %w2, %b2) : (tensor<1x4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %r = "qc.add"(%e, %o) : (tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
  %n2 = "qc.rms_norm"(%r, %g2) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %y = "qc.linear"(%n2, %wh, %bh) {qc.act_absmax = dense<[2.0, 1.0]> : tensor<2xf32>} : (tensor<1x4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<1x4x3xf32>
  return %y : tensor<1x4x3xf32>
}

// -----

// Without calibrated statistics a layer is left alone, even with runtime=true.
// CHECK-LABEL: func.func @negative_uncalibrated
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}}) :
// RUNTIME-LABEL: func.func @negative_uncalibrated
// RUNTIME-NOT: qc.channel_permute
// RUNTIME: return
func.func @negative_uncalibrated(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
