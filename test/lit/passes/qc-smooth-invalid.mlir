// Malformed calibration statistics are located one-line errors, never a traceback or a silently wrong
// model (the outlier passes share this check: qcomp.passes.act_stats.read).
// RUN: not qcomp-opt %s --split-input-file -p qc-smooth 2>&1 | filecheck %s

// CHECK-NOT: Traceback
// CHECK-NOT: module

// One statistic per input channel: 3 values for K = 4.
// CHECK: {{^.*}}qc-smooth-invalid.mlir:[[# @LINE + 4]]:8: error: 'qc.act_absmax' must hold [4] finite values >= 0 for 'qc.linear', got shape [3]{{$}}
func.func @negative_short(%x: tensor<2x4xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.0, 1.0, 1.0, 1.0]]> : tensor<1x4xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : (tensor<2x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// An infinite maximum would make the smoothed weights infinite.
// CHECK: {{^.*}}qc-smooth-invalid.mlir:[[# @LINE + 4]]:8: error: 'qc.act_absmax' must hold [2] finite values >= 0 for 'qc.linear', got inf or NaN values{{$}}
func.func @negative_inf(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[0x7F800000, 1.0]> : tensor<2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// Rows of the activation sample must have K columns.
// CHECK: {{^.*}}qc-smooth-invalid.mlir:[[# @LINE + 4]]:8: error: 'qc.act_sample' must hold [rows, 2] finite values for 'qc.linear', got shape [1, 3]{{$}}
func.func @negative_sample_width(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[4.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}
