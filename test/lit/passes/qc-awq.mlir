// qc-awq: AWQ's activation-aware scale search (s = mean|x|^r normalised by sqrt(max(s)·min(s)),
// r in {0, 1/grid, ...}, x -> x/s folded into the producer, W -> W·diag(s)) and clip search (per output
// channel and weight group, recorded as qc.weight_clip [N, ceil(K/group)]; float weights untouched).
// The missing-statistics errors are in qc-awq-invalid.mlir.
// RUN: qcomp-opt %s --split-input-file -p 'qc-awq{wbits=4,group=0,grid=2}' | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-awq{wbits=2,group=2,grid=10}' | filecheck %s --check-prefix=CLIP
// RUN: qcomp-opt %s --split-input-file -p 'qc-awq{wbits=4,group=0,grid=2,clip=false}' | filecheck %s --check-prefix=NOCLIP

// clip=false: the scales are still searched and folded, but no layer gets a qc.weight_clip.
// NOCLIP-NOT: qc.weight_clip
// NOCLIP: arith.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
// NOCLIP-NOT: qc.weight_clip

// Two layers read one RMSNorm; grid=2 tries r = 0 (no scaling) and r = 0.5: mean [16, 1] -> [4, 1] /
// sqrt(4·1) -> s = [2, 0.5]. The salient channel 0 has the small weights 0.1 (0.2): at 4 bits per
// output channel they round to 1/7 of the row max (error 0.043 · |x| = 16 -> 0.69 per row), scaled by
// 2 they round to 3/14 (error 0.014 · |x/s| = 8 -> 0.11 per row), so r = 0.5 wins. gamma [1, 1] / s =
// [0.5, 2]; the columns take s: [0.1, 1] -> [0.2, 0.5], [0.2, 2] -> [0.4, 1] (gamma_j · W_:,j is kept);
// the statistics become those of x/s (max 8 -> act_scale 8/127 = 0.0629921257). grid=2 tries only the
// full range in the clip search: the clip is each row's max |w| (0.5, 1).
// CHECK-LABEL: func.func @scale_into_norm
// CHECK: %[[G:.*]] = arith.constant dense<[5.000000e-01, 2.000000e+00]> : tensor<2xf32>
// CHECK: %[[N:.*]] = "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK: %[[W1:.*]] = arith.constant dense<{{\[}}[2.000000e-01, 5.000000e-01]]> : tensor<1x2xf32>
// CHECK: "qc.linear"(%[[N]], %[[W1]], %{{.*}}) {qc.act_absmax = dense<[8.000000e+00, 2.000000e+00]> : tensor<2xf32>, qc.act_mean = dense<[8.000000e+00, 2.000000e+00]> : tensor<2xf32>, qc.act_sample = dense<{{\[}}[8.000000e+00, 2.000000e+00], [-8.000000e+00, -2.000000e+00]]> : tensor<2x2xf32>, qc.act_scale = 0.0629921257 : f32, qc.weight_clip = dense<5.000000e-01> : tensor<1x1xf32>}
// CHECK: %[[W2:.*]] = arith.constant dense<{{\[}}[4.000000e-01, 1.000000e+00]]> : tensor<1x2xf32>
// CHECK: "qc.linear"(%[[N]], %[[W2]], %{{.*}}) {{.*}}qc.weight_clip = dense<1.000000e+00> : tensor<1x1xf32>}
// CHECK-NOT: qc.channel_scale
// CLIP-LABEL: func.func @scale_into_norm
// CLIP: qc.weight_clip = dense<{{.*}}> : tensor<1x1xf32>
func.func @scale_into_norm(%x: tensor<2x2xf32>) -> (tensor<2x1xf32>, tensor<2x1xf32>) {
  %g = arith.constant dense<1.0> : tensor<2xf32>
  %w1 = arith.constant dense<[[0.1, 1.0]]> : tensor<1x2xf32>
  %w2 = arith.constant dense<[[0.2, 2.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-6 : f64} : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %y1 = "qc.linear"(%n, %w1, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_mean = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[16.0, 1.0], [-16.0, -1.0]]> : tensor<2x2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  %y2 = "qc.linear"(%n, %w2, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_mean = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[16.0, 1.0], [-16.0, -1.0]]> : tensor<2x2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y1, %y2 : tensor<2x1xf32>, tensor<2x1xf32>
}

// -----

// The input is a function argument: nothing can absorb a scale, so only the clip search runs and the
// float weight is not changed. With grid=2 (first RUN) the clip is the max |w| of each row's single
// group [1, 1]. With 2-bit weights (levels {-1, 0, 1} · clip) in groups of 2 and grid=10 (CLIP), the
// ranges tried are max·{1, .9, .8, .7, .6}: for the group [1, .6] on x = [1, 1] (or [2, 2]), 0.8
// rounds both to 0.8 and the errors -0.2 and +0.2 cancel (0.9 leaves +0.2, 0.7 leaves -0.2), while
// [.5, -.5] is exact at its max 0.5; so weight_clip = [[.8, .5], [.5, .8]], every entry <= its group's max.
// CHECK-LABEL: func.func @clip_only_argument_input
// CHECK-NOT: qc.channel_scale
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 6.000000e-01, 5.000000e-01, 5.000000e-01], [5.000000e-01, -5.000000e-01, -1.000000e+00, -6.000000e-01]]> : tensor<2x4xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}}) {{.*}}qc.weight_clip = dense<1.000000e+00> : tensor<2x1xf32>}
// CLIP-LABEL: func.func @clip_only_argument_input
// CLIP: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 6.000000e-01, 5.000000e-01, 5.000000e-01], [5.000000e-01, -5.000000e-01, -1.000000e+00, -6.000000e-01]]> : tensor<2x4xf32>
// CLIP: "qc.linear"(%{{.*}}, %[[W]], %{{.*}}) {{.*}}qc.weight_clip = dense<{{\[}}[8.000000e-01, 5.000000e-01], [5.000000e-01, 8.000000e-01]]> : tensor<2x2xf32>}
func.func @clip_only_argument_input(%x: tensor<2x4xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 0.6, 0.5, 0.5], [0.5, -0.5, -1.0, -0.6]]> : tensor<2x4xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<2.0> : tensor<4xf32>, qc.act_mean = dense<1.5> : tensor<4xf32>, qc.act_sample = dense<[[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]]> : tensor<2x4xf32>} : (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// Without calibrated statistics a layer is left alone: no scaling, no clip.
// CHECK-LABEL: func.func @negative_uncalibrated
// CHECK: %[[G:.*]] = arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e-01, 1.000000e+00]]> : tensor<1x2xf32>
// CHECK: "qc.rms_norm"(%{{.*}}, %[[G]])
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}}) : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
// CHECK-NOT: qc.weight_clip
func.func @negative_uncalibrated(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %g = arith.constant dense<1.0> : tensor<2xf32>
  %w = arith.constant dense<[[0.1, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-6 : f64} : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %y = "qc.linear"(%n, %w, %b) : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}
