// qc-gptq on layers it cannot give a Hessian (only qc.act_absmax) or with a malformed one: a located
// error, never a crash, no output. An invalid option combination is refused before any IR is read.
// RUN: not qcomp-opt %s --split-input-file -p qc-gptq 2>&1 | filecheck %s
// RUN: not qcomp-opt %s -p 'qc-gptq{group=128,act_order=true}' 2>&1 | filecheck %s --check-prefix=OPT
// RUN: not qcomp-opt %s -p 'qc-gptq{search=grid}' 2>&1 | filecheck %s --check-prefix=SEARCH

// act_order permutes the rounding order; without static groups a group's range would be taken over
// permuted columns, which qc.wlinear's contiguous groups cannot hold.
// OPT: qc-gptq: act_order with groups needs static_groups=true (qc.wlinear's groups are contiguous)

// The range search is none (min/max) or mse.
// SEARCH: qc-gptq: search must be none or mse, got 'grid'

// CHECK-NOT: Traceback
// CHECK-NOT: module

// Calibrated from absmax only: nothing to build H = 2·XᵀX from.
// CHECK: {{^.*}}qc-gptq-invalid.mlir:[[# @LINE + 4]]:8: error: qc-gptq needs the layer's input Hessian ('qc.act_hessian') or activation samples ('qc.act_sample'): calibrate from input samples{{$}}
func.func @negative_no_hessian(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.1, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// A Hessian that is not [K, K] for the layer's K = 2.
// CHECK: {{^.*}}qc-gptq-invalid.mlir:[[# @LINE + 5]]:8: error: 'qc.act_hessian' must hold [2, 2] finite values for 'qc.linear', got shape [3, 3]{{$}}
// CHECK-NOT: {{.}}
func.func @negative_bad_hessian(%x: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[0.1, 1.0]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[16.0, 1.0]> : tensor<2xf32>, qc.act_hessian = dense<1.0> : tensor<3x3xf32>} : (tensor<2x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}
