// qc-quantize{abits=8,group=G}: int8 activations and integer weights with a scale per output channel and group of
// G input channels (qc.qlinear_grouped, W4A8 g128), codes one per byte.
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{wbits=4,abits=8,group=2}' | filecheck %s

// Groups of 2 at 4 bits (qmax 7). Row 0: max|[3.5, -1]| = 3.5 -> scale 0.5, codes [7, -2]; max|[-0.875, 0.25]|
// -> scale 0.125, codes [-7, 2]. Row 1: [7, 2] -> scale 1, codes [7, 2]; an all-zero group gets scale 1, codes 0.
// CHECK-LABEL: func.func @linear
// CHECK: %[[Q:.*]]:2 = "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_token"}
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[7, -2, -7, 2], [7, 2, 0, 0]]> : tensor<2x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<{{\[}}[5.000000e-01, 1.250000e-01], [1.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK: "qc.qlinear_grouped"(%[[Q]]#0, %[[Q]]#1, %[[WQ]], %[[WS]], %{{.*}}) {act = "none", bits = 4 : i64, group = 2 : i64, qc.precision = "w4a8g2"}
// CHECK-NOT: "qc.qlinear"(
func.func @linear(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[3.5, -1.0, -0.875, 0.25], [7.0, 2.0, 0.0, 0.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// K = 3 in groups of 2: the last group is partial (one column), its scale from that column alone.
// CHECK-LABEL: func.func @partial_group
// CHECK-DAG: arith.constant dense<{{\[}}[7, -2, 7]]> : tensor<1x3xi8>
// CHECK-DAG: arith.constant dense<{{\[}}[5.000000e-01, 2.500000e-01]]> : tensor<1x2xf32>
// CHECK: "qc.qlinear_grouped"
func.func @partial_group(%x: tensor<3x3xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[3.5, -1.0, 1.75]]> : tensor<1x3xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// A recorded range per group (qc-gptq's `qc.weight_clip` at the same group size) replaces max|w|: group 0's 1.75
// gives scale 0.25, so 3.5 saturates to 7 and -1 -> -4; group 1's 0.875 as before.
// CHECK-LABEL: func.func @recorded_clip
// CHECK-DAG: arith.constant dense<{{\[}}[7, -4, -7, 2]]> : tensor<1x4xi8>
// CHECK-DAG: arith.constant dense<{{\[}}[2.500000e-01, 1.250000e-01]]> : tensor<1x2xf32>
// CHECK: "qc.qlinear_grouped"
func.func @recorded_clip(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[3.5, -1.0, -0.875, 0.25]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.weight_clip = dense<[[1.75, 0.875]]> : tensor<1x2xf32>} : (tensor<3x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}

// -----

// A layer kept in float is left alone.
// CHECK-LABEL: func.func @negative_fp32_layer
// CHECK: "qc.linear"
// CHECK-NOT: "qc.qlinear_grouped"
func.func @negative_fp32_layer(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[3.5, -1.0, -0.875, 0.25]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<3x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
