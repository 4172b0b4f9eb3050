// qc-assign-precision{sensitivity=output_mse}: local errors weighted by each layer's measured output gain.
// The layers of qc-assign-precision.mlir: locally, 8 bits help @b 25x more than @a (w4 errors 0.0143 vs
// 0.0714), but @a's error reaches the model output 100x more strongly (qc.output_gain 100 vs 1), so the
// one w8 layer the budget allows goes to @a. Without a gain the pass says which layer lacks it.
// RUN: not qcomp-opt %s --split-input-file -p 'qc-assign-precision{candidates=w4a16:w8a16,budget=22.0,group=0}' 2>/dev/null | filecheck %s
// RUN: not qcomp-opt %s --split-input-file -p 'qc-assign-precision{candidates=w4a16:w8a16,budget=22.0,group=0}' 2>&1 >/dev/null | filecheck %s --check-prefix=ERR

// CHECK: qc.precision_plan = {{{.*}}frontier = [
// CHECK-SAME: layers = [{error = {{.*}}location = "{{.*}}", params = 2 : i64, precision = "w8a16g0"}, {error = {{.*}}precision = "w4a16g0"}]
// CHECK-SAME: sensitivity = "output_mse"
// CHECK-LABEL: func.func @gain_flips_the_choice
// CHECK-NOT: @negative_missing_gain
// CHECK: "qc.linear"(%{{.*}}) {qc.abits = 16 : i64, {{.*}}qc.wbits = 8 : i64, qc.wgroup = 0 : i64}
// CHECK: "qc.linear"(%{{.*}}) {qc.abits = 16 : i64, {{.*}}qc.wbits = 4 : i64, qc.wgroup = 0 : i64}
func.func @gain_flips_the_choice(%x: tensor<1x2xf32>) -> (tensor<1x1xf32>, tensor<1x1xf32>) {
  %wa = arith.constant dense<[[1.0, 0.3]]> : tensor<1x2xf32>
  %wb = arith.constant dense<[[1.0, 0.5]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %ya = "qc.linear"(%x, %wa, %b) {qc.output_gain = 100.0 : f64, qc.act_absmax = dense<[1.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 1.0]]> : tensor<1x2xf32>} : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  %yb = "qc.linear"(%x, %wb, %b) {qc.output_gain = 1.0 : f64, qc.act_absmax = dense<[1.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 1.0]]> : tensor<1x2xf32>} : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  return %ya, %yb : tensor<1x1xf32>, tensor<1x1xf32>
}

// -----

// A calibrated layer without a measured gain: one located line.
// ERR: {{^}}{{.*}}qc-assign-precision-gain.mlir:{{[0-9]+}}:{{[0-9]+}}: error: qc-assign-precision{sensitivity=output_mse}: the layer has no 'qc.output_gain'
func.func @negative_missing_gain(%x: tensor<1x2xf32>) -> tensor<1x1xf32> {
  %w = arith.constant dense<[[1.0, 0.3]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[1.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 1.0]]> : tensor<1x2xf32>} : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}
