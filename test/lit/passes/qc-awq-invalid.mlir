// qc-awq on layers calibrated without activation samples or means (only qc.act_absmax, e.g. from an
// absmax-only calibration): a located error naming the missing statistics, never a crash, no output.
// RUN: not qcomp-opt %s --split-input-file -p qc-awq 2>&1 | filecheck %s

// Both chunks fail on their own line; nothing else is printed (no IR, no traceback).
// CHECK-NOT: Traceback
// CHECK-NOT: module

// qc.act_mean but no qc.act_sample: the search has nothing to measure errors on.
// CHECK: {{^.*}}qc-awq-invalid.mlir:[[# @LINE + 4]]:8: error: qc-awq needs activation samples and means ('qc.act_sample', 'qc.act_mean'): calibrate from input samples{{$}}
func.func @negative_no_sample(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.1, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_mean = dense<[16.0, 1.0]> : tensor<2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// qc.act_sample but no qc.act_mean: no saliency to derive the scales from.
// CHECK: {{^.*}}qc-awq-invalid.mlir:[[# @LINE + 5]]:8: error: qc-awq needs activation samples and means ('qc.act_sample', 'qc.act_mean'): calibrate from input samples{{$}}
// CHECK-NOT: {{.}}
func.func @negative_no_mean(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.1, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[16.0, 1.0]]> : tensor<1x2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}
