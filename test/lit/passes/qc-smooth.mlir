// qc-smooth: SmoothQuant's s_j = max|X_j|^α / max|W_:,j|^(1−α), x -> x/s folded into the producer,
// W -> W·diag(s). The numbers are chosen so that s = [2, 1] at α = 0.5.
// RUN: qcomp-opt %s --split-input-file -p qc-smooth | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-smooth{alpha=0.0}' | filecheck %s --check-prefix=ALPHA0

// Two layers reading one RMSNorm: max|X| = [16, 1], max|W| over both = [4, 1] -> s = [sqrt(16/4), 1]
// = [2, 1]. gamma [1, 2] / s = [0.5, 2]; the weights' first columns double; the statistics become
// those of x/s, and the static scale is recomputed from them (max 8 -> 8/127).
// CHECK-LABEL: func.func @fold_into_norm
// CHECK: %[[G:.*]] = arith.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
// CHECK: %[[N:.*]] = "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 1.000000e+00]]> : tensor<1x2xf32>
// CHECK: "qc.linear"(%[[N]], %[[W1]], %{{.*}}) {qc.act_absmax = dense<[8.000000e+00, 1.000000e+00]> : tensor<2xf32>, qc.act_scale = 0.0629921257 : f32}
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[}}[8.000000e+00, 2.500000e-01]]> : tensor<1x2xf32>
// CHECK: "qc.linear"(%[[N]], %[[W2]], %{{.*}})
// CHECK-NOT: qc.channel_scale
// ALPHA0-LABEL: func.func @fold_into_norm
// s = 1 / max|W| = [0.25, 1]: gamma [4, 2]
// ALPHA0: arith.constant dense<[4.000000e+00, 2.000000e+00]> : tensor<2xf32>
func.func @fold_into_norm(%x: tensor<3x2xf32>) -> (tensor<3x1xf32>, tensor<3x1xf32>) {
  %g = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %w1 = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %w2 = arith.constant dense<[[4.0, 0.25]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-6 : f64} : (tensor<3x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %y1 = "qc.linear"(%n, %w1, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_scale = 0.125 : f32} : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  %y2 = "qc.linear"(%n, %w2, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_scale = 0.125 : f32} : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y1, %y2 : tensor<3x1xf32>, tensor<3x1xf32>
}

// -----

// SiLU-gated MLP: down_proj's input silu(gate) · up takes 1/s in up_proj's output rows and bias
// (max|X| = [4, 1], max|W| = [1, 1] -> s = [2, 1]): up rows [2, 2] -> [1, 1], bias [2, 4] -> [1, 4].
// CHECK-LABEL: func.func @fold_into_up_rows
// CHECK: %[[WU:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 1.000000e+00], [3.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[BU:.*]] = arith.constant dense<[1.000000e+00, 4.000000e+00]> : tensor<2xf32>
// CHECK: %[[U:.*]] = "qc.linear"(%{{.*}}, %[[WU]], %[[BU]])
// CHECK: %[[M:.*]] = "qc.mul"(%{{.*}}, %[[U]])
// CHECK: %[[WD:.*]] = arith.constant dense<{{\[}}[2.000000e+00, 1.000000e+00]]> : tensor<1x2xf32>
// CHECK: "qc.linear"(%[[M]], %[[WD]], %{{.*}})
// CHECK-NOT: qc.channel_scale
func.func @fold_into_up_rows(%h: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %wg = arith.constant dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32>
  %wu = arith.constant dense<[[2.0, 2.0], [3.0, 3.0]]> : tensor<2x2xf32>
  %bu = arith.constant dense<[2.0, 4.0]> : tensor<2xf32>
  %wd = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %b2 = arith.constant dense<0.0> : tensor<2xf32>
  %b1 = arith.constant dense<0.0> : tensor<1xf32>
  %g = "qc.linear"(%h, %wg, %b2) : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %a = "qc.silu"(%g) : (tensor<3x2xf32>) -> tensor<3x2xf32>
  %u = "qc.linear"(%h, %wu, %bu) : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %m = "qc.mul"(%a, %u) : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
  %y = "qc.linear"(%m, %wd, %b1) {qc.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>} : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// The input is also returned, so its producer must not change: an explicit qc.channel_scale by 1/s.
// CHECK-LABEL: func.func @negative_shared_input
// CHECK: %[[INV:.*]] = arith.constant dense<[5.000000e-01, 1.000000e+00]> : tensor<2xf32>
// CHECK: %[[S:.*]] = "qc.channel_scale"(%[[N:.*]], %[[INV]])
// CHECK: "qc.linear"(%[[S]],
// CHECK: return %[[N]],
func.func @negative_shared_input(%x: tensor<3x2xf32>) -> (tensor<3x2xf32>, tensor<3x1xf32>) {
  %g = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %w = arith.constant dense<[[4.0, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-6 : f64} : (tensor<3x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %y = "qc.linear"(%n, %w, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>} : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %n, %y : tensor<3x2xf32>, tensor<3x1xf32>
}

// -----

// Without calibrated statistics a layer is left alone.
// CHECK-LABEL: func.func @negative_uncalibrated
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[4.000000e+00, 1.000000e+00]]>
// CHECK: "qc.linear"(%{{.*}}, %[[W]],
func.func @negative_uncalibrated(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[4.0, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// A square h · h: scaling h would scale the product twice, so nothing is folded into h's producer and an
// explicit qc.channel_scale keeps the function.
// CHECK-LABEL: func.func @negative_square
// CHECK: %[[H:.*]] = "qc.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<3x2xf32>
// CHECK: %[[M:.*]] = "qc.mul"(%[[H]], %[[H]])
// CHECK: "qc.channel_scale"(%[[M]],
func.func @negative_square(%x: tensor<3x2xf32>) -> tensor<3x1xf32> {
  %w1 = arith.constant dense<[[2.0, 2.0], [3.0, 3.0]]> : tensor<2x2xf32>
  %b1 = arith.constant dense<0.0> : tensor<2xf32>
  %w2 = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %b2 = arith.constant dense<0.0> : tensor<1xf32>
  %h = "qc.linear"(%x, %w1, %b1) : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %m = "qc.mul"(%h, %h) : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
  %y = "qc.linear"(%m, %w2, %b2) {qc.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>} : (tensor<3x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
