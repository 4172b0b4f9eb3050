// qc-gptq: GPTQ rounds a layer's weight columns one by one onto qc-quantize's symmetric grid and feeds
// each column's rounding error into the columns not yet rounded through the input Hessian
// (H = 2·XᵀX / rows, from qc.act_hessian or the qc.act_sample rows); the weight becomes f32(q)·scale
// and the group ranges qc.weight_clip, so qc-quantize reads back the same integers.
// The missing-statistics and malformed-Hessian errors are in qc-gptq-invalid.mlir.
// RUN: qcomp-opt %s --split-input-file -p 'qc-gptq{wbits=2,group=0}' | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-gptq{wbits=2,group=0},qc-quantize{wbits=2,abits=16}' | filecheck %s --check-prefix=Q

// Inputs 0 and 2 are always equal (rows [1, 1, 1] and [1, -1, 1]): H = [[2,0,2],[0,2,0],[2,0,2]] (+ damp
// 0.01·2 on the diagonal). At 2 bits (levels {-1, 0, 1}) per output channel the scale is max|w| = 1.
// Column 0: 0.3 rounds to 0, error 0.3; the feedback adds 0.3 · H02 / H22 = 0.3 · 2/2.02 to column 2:
// 0.3 -> 0.597, which rounds to 1. GPTQ gives [0, 1, 1] (output error 0.4 on both rows) where
// round-to-nearest gives [0, 1, 0] (error 0.6).
// CHECK-LABEL: func.func @feedback_from_sample
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 1.000000e+00, 1.000000e+00]]> : tensor<1x3xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}}) {{.*}}qc.weight_clip = dense<1.000000e+00> : tensor<1x1xf32>}
// Q-LABEL: func.func @feedback_from_sample
// Q: "qc.wlinear"{{.*}}bits = 2 : i64, group = 3 : i64
func.func @feedback_from_sample(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.3, 1.0, 0.3]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<1.0> : tensor<3xf32>, qc.act_sample = dense<[[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]]> : tensor<2x3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// The same layer with its Hessian given (as calibrate(..., hessian=True) attaches it over all rows)
// and no sample: the same result. The sample is not needed when the Hessian is there.
// CHECK-LABEL: func.func @feedback_from_hessian
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 1.000000e+00, 1.000000e+00]]> : tensor<1x3xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}})
func.func @feedback_from_hessian(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.3, 1.0, 0.3]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<1.0> : tensor<3xf32>, qc.act_hessian = dense<[[2.0, 0.0, 2.0], [0.0, 2.0, 0.0], [2.0, 0.0, 2.0]]> : tensor<3x3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// An input channel that never fired in calibration (H_11 = 0) is dead: GPTQ zeroes its weight column
// (as the reference does); the range stays max|w| = 1 of the live columns.
// CHECK-LABEL: func.func @dead_input_channel
// CHECK: arith.constant dense<{{\[}}[1.000000e+00, 0.000000e+00]]> : tensor<1x2xf32>
func.func @dead_input_channel(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.0, 0.7]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[1.0, 0.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 0.0], [-1.0, 0.0]]> : tensor<2x2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// A layer without calibration statistics has no Hessian: it is left as it is (qc-quantize rounds it).
// CHECK-LABEL: func.func @negative_uncalibrated
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[3.000000e-01, 1.000000e+00, 3.000000e-01]]> : tensor<1x3xf32>
// CHECK-NOT: qc.weight_clip
// CHECK: return
func.func @negative_uncalibrated(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.3, 1.0, 0.3]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// A layer kept in float (qc.precision = "fp32", mixed precision's choice) is not rounded.
// CHECK-LABEL: func.func @negative_kept_fp32
// CHECK: arith.constant dense<{{\[}}[3.000000e-01, 1.000000e+00, 3.000000e-01]]> : tensor<1x3xf32>
// CHECK-NOT: qc.weight_clip
// CHECK: return
func.func @negative_kept_fp32(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.3, 1.0, 0.3]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32", qc.act_absmax = dense<1.0> : tensor<3xf32>, qc.act_sample = dense<[[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]]> : tensor<2x3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// A weight computed at run time (a function argument) is not a constant the pass could replace.
// CHECK-LABEL: func.func @negative_runtime_weight
// CHECK: "qc.linear"(%{{.*}}, %{{.*}}, %{{.*}}) {qc.act_absmax
// CHECK-NOT: qc.weight_clip
func.func @negative_runtime_weight(%x: tensor<2x3xf32>, %w: tensor<1x3xf32>) -> tensor<2x1xf32> {
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<1.0> : tensor<3xf32>, qc.act_sample = dense<[[1.0, 1.0, 1.0], [1.0, -1.0, 1.0]]> : tensor<2x3xf32>} : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}
