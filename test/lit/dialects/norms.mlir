// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// LayerNorm over the last dim with gamma/beta [D] and an f64 eps (what qc-from-torch emits).
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xf32>, %[[G:.*]]: tensor<8xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[Y:.*]] = "qc.layer_norm"(%[[X]], %[[G]], %[[B]]) {eps = 1.000000e-05 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
// CHECK: return %[[Y]]
func.func @layer_norm(%x: tensor<2x3x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.layer_norm"(%x, %g, %b) {eps = 1.0e-05 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// RMSNorm has no beta; an f32 eps is kept as f32.
// CHECK-LABEL: func.func @rms_norm_f32_eps
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[G:.*]]: tensor<8xf32>)
// CHECK: "qc.rms_norm"(%[[X]], %[[G]]) {eps = 9.99999997E-7 : f32} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
func.func @rms_norm_f32_eps(%x: tensor<4x8xf32>, %g: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.rms_norm"(%x, %g) {eps = 1.0e-06 : f32} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A pre-norm block: rms_norm feeding layer_norm; both keep their own eps.
// CHECK-LABEL: func.func @norm_chain
// CHECK: %[[R:.*]] = "qc.rms_norm"(%{{.*}}, %{{.*}}) {eps = 2.500000e-01 : f64}
// CHECK: "qc.layer_norm"(%[[R]], %{{.*}}, %{{.*}}) {eps = 5.000000e-01 : f64}
func.func @norm_chain(%x: tensor<1x4xf32>, %g: tensor<4xf32>) -> tensor<1x4xf32> {
  %r = "qc.rms_norm"(%x, %g) {eps = 0.25 : f64} : (tensor<1x4xf32>, tensor<4xf32>) -> tensor<1x4xf32>
  %y = "qc.layer_norm"(%r, %g, %g) {eps = 0.5 : f64} : (tensor<1x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4xf32>
  return %y : tensor<1x4xf32>
}
