// qc-quantize{static=true}: static per-tensor activation scales from the layer's qc.act_scale
// (set by calibration), the w8a8-static recipe.
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{static=true}' | filecheck %s

// qc.act_scale = 0.5 becomes a constant scale [1] for qc.quantize (q = sat(roundeven(x · 2))) and the
// xs operand of qc.qlinear; weights are int8 per output channel as in the dynamic recipe.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>)
// CHECK-DAG: %[[XS:.*]] = arith.constant dense<5.000000e-01> : tensor<1xf32>
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[127, -50, 0], [-127, 50, 25]]> : tensor<2x3xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<[0.00999999977, 2.000000e-02]> : tensor<2xf32>
// CHECK-DAG: %[[Q:.*]] = "qc.quantize"(%[[X]], %[[XS]]) {axis = -1 : i64, bits = 8 : i64} : (tensor<4x3xf32>, tensor<1xf32>) -> tensor<4x3xi8>
// CHECK: %[[Y:.*]] = "qc.qlinear"(%[[Q]], %[[XS]], %[[WQ]], %[[WS]], %{{.*}}) {act = "none", qc.precision = "w8a8"} : (tensor<4x3xi8>, tensor<1xf32>, tensor<2x3xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: "qc.quantize_dynamic"
// CHECK: return %[[Y]]
func.func @linear(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.27, -0.5, 0.0], [-2.54, 1.0, 0.5]]> : tensor<2x3xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_scale = 0.5 : f32} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Batched tokens [B, T, K] still get one scale for the whole tensor.
// CHECK-LABEL: func.func @linear_batched
// CHECK: "qc.quantize"(%{{.*}}, %{{.*}}) {axis = -1 : i64, bits = 8 : i64} : (tensor<2x3x2xf32>, tensor<1xf32>) -> tensor<2x3x2xi8>
// CHECK: "qc.qlinear"({{.*}} : (tensor<2x3x2xi8>, tensor<1xf32>, tensor<2x2xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x3x2xf32>
func.func @linear_batched(%x: tensor<2x3x2xf32>) -> tensor<2x3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_scale = 0.25 : f32} : (tensor<2x3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}

// -----

// Convolutions: the static scale feeds qc.qconv2d's per-tensor xs.
// CHECK-LABEL: func.func @conv2d
// CHECK-DAG: %[[XS:.*]] = arith.constant dense<1.250000e-01> : tensor<1xf32>
// CHECK: %[[Q:.*]] = "qc.quantize"(%{{.*}}, %[[XS]]) {axis = -1 : i64, bits = 8 : i64} : (tensor<1x1x3x3xf32>, tensor<1xf32>) -> tensor<1x1x3x3xi8>
// CHECK: "qc.qconv2d"(%[[Q]], %[[XS]], {{.*}}qc.precision = "w8a8"
func.func @conv2d(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant dense<[[[[1.27, -0.64], [0.13, 0.0]]], [[[-2.54, 1.0], [0.5, 0.26]]]]> : tensor<2x1x2x2xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 2, 1>, padding = array<i64: 1, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, qc.act_scale = 0.125 : f32} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A layer kept in fp32 needs no scale and is left alone.
// CHECK-LABEL: func.func @negative_fp32_precision
// CHECK: "qc.linear"(%{{.*}}) {qc.precision = "fp32"}
// CHECK-NOT: "qc.quantize"
func.func @negative_fp32_precision(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A weight only known at run time is not quantized, calibrated or not.
// CHECK-LABEL: func.func @negative_weight_argument
// CHECK: "qc.linear"(%{{.*}}) {qc.act_scale = 5.000000e-01 : f32}
// CHECK-NOT: "qc.qlinear"
func.func @negative_weight_argument(%x: tensor<4x3xf32>, %w: tensor<2x3xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %y = "qc.linear"(%x, %w, %b) {qc.act_scale = 0.5 : f32} : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
