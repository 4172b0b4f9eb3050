// qc-rotate: QuaRot rotation of a pre-norm RMSNorm residual stream by an orthogonal Q, folded into the
// weights: embedding table E -> E Q, RMSNorm gamma -> 1, readers W -> W diag(gamma) Q, writers W -> Qᵀ W
// and b -> Qᵀ b. With hidden size 2, kind=hadamard gives Q = [[1, 1], [1, -1]] / sqrt(2) (= Qᵀ), and
// the numbers below are picked so every rotated entry is 0 or sqrt(2) = 1.41421354 in f32.
// RUN: qcomp-opt %s --split-input-file -p qc-rotate | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-rotate{kind=random,seed=3}' | filecheck %s --check-prefix=RANDOM

// One block (reader -> relu -> writer, added to the stream), a final RMSNorm and an LM head:
//   E rows [1, 1], [1, -1], [2, 0]                 -> [s, 0], [0, s], [s, s]      (s = sqrt 2)
//   reader [[.5, 1], [.5, -1]] · diag([2, 1]) = [[1, 1], [1, -1]] -> · Q = [[s, 0], [0, s]]
//   writer Qᵀ [[1, 0], [1, 0]] = [[s, 0], [0, 0]],  bias Qᵀ [1, 1] = [s, 0]
//   head [[1, .5], [1, -.5], [0, 0]] · diag([1, 2]) · Q = [[s, 0], [0, s], [0, 0]]
// The reader's statistics are re-measured on its rotated sample: rows [2, ±1] / gamma = [1, ±1] -> · Q
// = [s, 0], [0, s]: absmax [s, s], mean [s/2, s/2], act_scale s/127 = 0.01113554.
// CHECK-LABEL: func.func @tiny_transformer
// CHECK-DAG: %[[B1:.*]] = arith.constant dense<[2.500000e-01, -2.500000e-01]> : tensor<2xf32>
// CHECK-DAG: %[[BH:.*]] = arith.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK: %[[E:.*]] = arith.constant dense<{{\[}}[1.41421354, 0.000000e+00], [0.000000e+00, 1.41421354], [1.41421354, 1.41421354]]> : tensor<3x2xf32>
// CHECK: %[[R0:.*]] = "qc.embedding"(%[[E]], %{{.*}}) : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
// CHECK: %[[G1:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK: %[[N1:.*]] = "qc.rms_norm"(%[[R0]], %[[G1]])
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[}}[1.41421354, 0.000000e+00], [0.000000e+00, 1.41421354]]> : tensor<2x2xf32>
// CHECK: %[[H:.*]] = "qc.linear"(%[[N1]], %[[W1]], %[[B1]]) {qc.act_absmax = dense<1.41421354> : tensor<2xf32>, qc.act_mean = dense<0.707106769> : tensor<2xf32>, qc.act_sample = dense<{{\[}}[1.41421354, 0.000000e+00], [0.000000e+00, 1.41421354]]> : tensor<2x2xf32>, qc.act_scale = 0.01113554 : f32}
// CHECK: %[[A:.*]] = "qc.relu"(%[[H]])
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[}}[1.41421354, 0.000000e+00], [0.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[B2:.*]] = arith.constant dense<[1.41421354, 0.000000e+00]> : tensor<2xf32>
// CHECK: %[[O:.*]] = "qc.linear"(%[[A]], %[[W2]], %[[B2]])
// CHECK: %[[R1:.*]] = "qc.add"(%[[R0]], %[[O]])
// CHECK: %[[G2:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK: %[[N2:.*]] = "qc.rms_norm"(%[[R1]], %[[G2]])
// CHECK: %[[WH:.*]] = arith.constant dense<{{\[}}[1.41421354, 0.000000e+00], [0.000000e+00, 1.41421354], [0.000000e+00, 0.000000e+00]]> : tensor<3x2xf32>
// CHECK: %[[Y:.*]] = "qc.linear"(%[[N2]], %[[WH]], %[[BH]])
// CHECK: return %[[Y]]
// A random Q is not hand-checkable, but gamma is still folded away in both norms.
// RANDOM-LABEL: func.func @tiny_transformer
// RANDOM: "qc.embedding"
// RANDOM: %[[G1:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// RANDOM: "qc.rms_norm"(%{{.*}}, %[[G1]])
// RANDOM: %[[G2:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// RANDOM: "qc.rms_norm"(%{{.*}}, %[[G2]])
func.func @tiny_transformer(%ids: tensor<1x4xi64>) -> tensor<1x4x3xf32> {
  %table = arith.constant dense<[[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]]> : tensor<3x2xf32>
  %g1 = arith.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %w1 = arith.constant dense<[[0.5, 1.0], [0.5, -1.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<[0.25, -0.25]> : tensor<2xf32>
  %w2 = arith.constant dense<[[1.0, 0.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %b2 = arith.constant dense<[1.0, 1.0]> : tensor<2xf32>
  %g2 = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %wh = arith.constant dense<[[1.0, 0.5], [1.0, -0.5], [0.0, 0.0]]> : tensor<3x2xf32>
  %bh = arith.constant dense<0.0> : tensor<3xf32>
  %e = "qc.embedding"(%table, %ids) : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %n1 = "qc.rms_norm"(%e, %g1) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %h = "qc.linear"(%n1, %w1, %b1) {qc.act_absmax = dense<[2.0, 1.0]> : tensor<2xf32>, qc.act_mean = dense<[2.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[2.0, 1.0], [2.0, -1.0]]> : tensor<2x2xf32>} : (tensor<1x4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %a = "qc.relu"(%h) : (tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
  %o = "qc.linear"(%a, %w2, %b2) : (tensor<1x4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %r = "qc.add"(%e, %o) : (tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
  %n2 = "qc.rms_norm"(%r, %g2) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %y = "qc.linear"(%n2, %wh, %bh) : (tensor<1x4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<1x4x3xf32>
  return %y : tensor<1x4x3xf32>
}

// -----

// A LayerNorm model (GPT-2, BERT) is not rotation-invariant this way (mean subtraction, beta): unchanged.
// CHECK-LABEL: func.func @negative_layer_norm
// CHECK: %[[E:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [1.000000e+00, -1.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[G:.*]] = arith.constant dense<[2.000000e+00, 1.000000e+00]> : tensor<2xf32>
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 1.000000e+00]]> : tensor<1x2xf32>
// CHECK: "qc.embedding"(%[[E]],
// CHECK: "qc.layer_norm"(%{{.*}}, %[[G]], %{{.*}})
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}})
// CHECK-NOT: 1.41421354
func.func @negative_layer_norm(%ids: tensor<1x4xi64>) -> tensor<1x4x1xf32> {
  %table = arith.constant dense<[[1.0, 1.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %g = arith.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %beta = arith.constant dense<0.0> : tensor<2xf32>
  %w = arith.constant dense<[[0.5, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %e = "qc.embedding"(%table, %ids) : (tensor<2x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %n = "qc.layer_norm"(%e, %g, %beta) {eps = 1.0e-5 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %y = "qc.linear"(%n, %w, %b) : (tensor<1x4x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x4x1xf32>
  return %y : tensor<1x4x1xf32>
}

// -----

// The residual stream after the block is also returned: the caller would see r Q instead of r, so the
// structure does not match and nothing changes.
// CHECK-LABEL: func.func @negative_residual_escapes
// CHECK: %[[E:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [1.000000e+00, -1.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[G:.*]] = arith.constant dense<[2.000000e+00, 1.000000e+00]> : tensor<2xf32>
// CHECK: "qc.embedding"(%[[E]],
// CHECK: "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK: "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK-NOT: 1.41421354
func.func @negative_residual_escapes(%ids: tensor<1x4xi64>) -> (tensor<1x4x2xf32>, tensor<1x4x1xf32>) {
  %table = arith.constant dense<[[1.0, 1.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %g = arith.constant dense<[2.0, 1.0]> : tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<0.0> : tensor<2xf32>
  %wh = arith.constant dense<[[0.5, 1.0]]> : tensor<1x2xf32>
  %bh = arith.constant dense<0.0> : tensor<1xf32>
  %e = "qc.embedding"(%table, %ids) : (tensor<2x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %n1 = "qc.rms_norm"(%e, %g) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %h = "qc.linear"(%n1, %w1, %b1) : (tensor<1x4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %r = "qc.add"(%e, %h) : (tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2xf32>
  %n2 = "qc.rms_norm"(%r, %g) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %y = "qc.linear"(%n2, %wh, %bh) : (tensor<1x4x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x4x1xf32>
  return %r, %y : tensor<1x4x2xf32>, tensor<1x4x1xf32>
}

// -----

// A zero in an RMSNorm gamma: x / gamma (needed to fold gamma into the readers and to re-measure their
// statistics) is unknown on that channel, so the stream is left unrotated.
// CHECK-LABEL: func.func @negative_zero_gamma
// CHECK: %[[G:.*]] = arith.constant dense<[0.000000e+00, 1.000000e+00]> : tensor<2xf32>
// CHECK: "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK-NOT: 1.41421354
func.func @negative_zero_gamma(%ids: tensor<1x4xi64>) -> tensor<1x4x3xf32> {
  %t = arith.constant dense<[[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]]> : tensor<3x2xf32>
  %g = arith.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %wh = arith.constant dense<[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]> : tensor<3x2xf32>
  %bh = arith.constant dense<0.0> : tensor<3xf32>
  %e = "qc.embedding"(%t, %ids) : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  %n = "qc.rms_norm"(%e, %g) {eps = 1.0e-6 : f64} : (tensor<1x4x2xf32>, tensor<2xf32>) -> tensor<1x4x2xf32>
  %y = "qc.linear"(%n, %wh, %bh) {qc.act_absmax = dense<[0.0, 1.0]> : tensor<2xf32>} : (tensor<1x4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<1x4x3xf32>
  return %y : tensor<1x4x3xf32>
}
