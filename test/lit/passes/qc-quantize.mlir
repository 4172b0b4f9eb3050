// RUN: qcomp-opt %s --split-input-file -p qc-quantize | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{wbits=4}' | filecheck %s --check-prefix=W4
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{granularity=per_tensor}' | filecheck %s --check-prefix=PT

// Per-output-channel int8 weights: row 0 has max|w| = 1.27 -> scale 0.01 -> [127, -50, 0];
// row 1 has max|w| = 2.54 -> scale 0.02 -> [-127, 50, 25]. Activations are quantized per token
// (scale [4, 1]) and the float bias is reused by the fused epilogue.
// CHECK-LABEL: func.func @linear_per_token
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>)
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e-01, -1.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[Q:.*]]:2 = "qc.quantize_dynamic"(%[[X]]) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x3xf32>) -> (tensor<4x3xi8>, tensor<4x1xf32>)
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[127, -50, 0], [-127, 50, 25]]> : tensor<2x3xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<[0.00999999977, 2.000000e-02]> : tensor<2xf32>
// CHECK: %[[Y:.*]] = "qc.qlinear"(%[[Q]]#0, %[[Q]]#1, %[[WQ]], %[[WS]], %[[B]]) {act = "none", qc.precision = "w8a8"} : (tensor<4x3xi8>, tensor<4x1xf32>, tensor<2x3xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: "qc.linear"
// CHECK: return %[[Y]]
//
// With wbits=4 the range is [-7, 7]: scales 1.27/7 and 2.54/7, -0.5/0.1814 = -2.76 -> -3.
// W4-LABEL: func.func @linear_per_token
// W4-DAG: arith.constant dense<{{\[}}[7, -3, 0], [-7, 3, 1]]> : tensor<2x3xi8>
// W4-DAG: arith.constant dense<[0.181428567, 0.362857133]> : tensor<2xf32>
// W4-DAG: "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_token"}
// W4: "qc.qlinear"({{.*}}) {act = "none", qc.precision = "w4a8"}
//
// granularity=per_tensor gives one activation scale [1] for the whole input.
// PT-LABEL: func.func @linear_per_token
// PT: %[[Q:.*]]:2 = "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<4x3xf32>) -> (tensor<4x3xi8>, tensor<1xf32>)
// PT: "qc.qlinear"(%[[Q]]#0, %[[Q]]#1, {{.*}} : (tensor<4x3xi8>, tensor<1xf32>, tensor<2x3xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
func.func @linear_per_token(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.27, -0.5, 0.0], [-2.54, 1.0, 0.5]]> : tensor<2x3xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Rounding is half to even (2.5 -> 2, -3.5 -> -4) with scale exactly 1 (max|w| = 127), and an
// all-zero output channel gets scale 1 instead of dividing by zero.
// CHECK-LABEL: func.func @linear_round_half_even_zero_row
// CHECK-DAG: arith.constant dense<{{\[}}[127, 2, -4, 0], [0, 0, 0, 0]]> : tensor<2x4xi8>
// CHECK-DAG: arith.constant dense<1.000000e+00> : tensor<2xf32>
// CHECK: "qc.qlinear"
// W4-LABEL: func.func @linear_round_half_even_zero_row
// W4-DAG: arith.constant dense<{{\[}}[7, 0, 0, 0], [0, 0, 0, 0]]> : tensor<2x4xi8>
// W4-DAG: arith.constant dense<[18.1428566, 1.000000e+00]> : tensor<2xf32>
func.func @linear_round_half_even_zero_row(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[127.0, 2.5, -3.5, 0.4], [0.0, 0.0, 0.0, 0.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Batched activations [B, T, K] get one scale per token: [B, T, 1].
// CHECK-LABEL: func.func @linear_batched_tokens
// CHECK: "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_token"} : (tensor<2x3x2xf32>) -> (tensor<2x3x2xi8>, tensor<2x3x1xf32>)
// CHECK: "qc.qlinear"({{.*}} : (tensor<2x3x2xi8>, tensor<2x3x1xf32>, tensor<2x2xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x3x2xf32>
// PT-LABEL: func.func @linear_batched_tokens
// PT: "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<2x3x2xf32>) -> (tensor<2x3x2xi8>, tensor<1xf32>)
func.func @linear_batched_tokens(%x: tensor<2x3x2xf32>) -> tensor<2x3x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x3x2xf32>
  return %y : tensor<2x3x2xf32>
}

// -----

// A splat weight (all 0.5) stays a splat: scale 0.5/127 per row and every value 127.
// CHECK-LABEL: func.func @linear_splat_weight
// CHECK-DAG: arith.constant dense<127> : tensor<2x2xi8>
// CHECK-DAG: arith.constant dense<0.00393700786> : tensor<2xf32>
// CHECK: "qc.qlinear"
func.func @linear_splat_weight(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<0.5> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A single token (rank-1 input) has one activation scale [1].
// CHECK-LABEL: func.func @linear_single_vector
// CHECK: "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_token"} : (tensor<2xf32>) -> (tensor<2xi8>, tensor<1xf32>)
// CHECK: "qc.qlinear"({{.*}} : (tensor<2xi8>, tensor<1xf32>, tensor<2x2xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
func.func @linear_single_vector(%x: tensor<2xf32>) -> tensor<2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}

// -----

// Convolutions: per-output-channel weights over O (axis 0 of OIHW), activations always per
// tensor (xs [1], even with the default per_token option), conv attributes carried over.
// CHECK-LABEL: func.func @conv2d
// CHECK-SAME: (%[[X:.*]]: tensor<1x1x3x3xf32>)
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e-01, -1.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[Q:.*]]:2 = "qc.quantize_dynamic"(%[[X]]) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<1x1x3x3xf32>) -> (tensor<1x1x3x3xi8>, tensor<1xf32>)
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[{{\[}}[127, -64], [13, 0]]], [{{\[}}[-127, 50], [25, 13]]]]> : tensor<2x1x2x2xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<[0.00999999977, 2.000000e-02]> : tensor<2xf32>
// CHECK: "qc.qconv2d"(%[[Q]]#0, %[[Q]]#1, %[[WQ]], %[[WS]], %[[B]]) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 0>, qc.precision = "w8a8", stride = array<i64: 2, 1>} : (tensor<1x1x3x3xi8>, tensor<1xf32>, tensor<2x1x2x2xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NOT: "qc.conv2d"
// W4-LABEL: func.func @conv2d
// W4: arith.constant dense<{{\[}}[{{\[}}[7, -4], [1, 0]]], [{{\[}}[-7, 3], [1, 1]]]]> : tensor<2x1x2x2xi8>
// W4: "qc.qconv2d"({{.*}}qc.precision = "w4a8"
func.func @conv2d(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant dense<[[[[1.27, -0.64], [0.13, 0.0]]], [[[-2.54, 1.0], [0.5, 0.26]]]]> : tensor<2x1x2x2xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 2, 1>, padding = array<i64: 1, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A weight that is a function argument is not known offline: nothing changes.
// CHECK-LABEL: func.func @negative_weight_argument
// CHECK-NOT: "qc.quantize_dynamic"
// CHECK: "qc.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: "qc.qlinear"
func.func @negative_weight_argument(%x: tensor<4x3xf32>, %w: tensor<2x3xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A weight computed at run time (here relu of a constant) is not a constant either.
// CHECK-LABEL: func.func @negative_weight_computed
// CHECK: %[[W:.*]] = "qc.relu"
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %{{.*}})
// CHECK-NOT: "qc.qlinear"
func.func @negative_weight_computed(%x: tensor<4x3xf32>) -> tensor<4x2xf32> {
  %c = arith.constant dense<[[1.27, -0.5, 0.0], [-2.54, 1.0, 0.5]]> : tensor<2x3xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %w = "qc.relu"(%c) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// qc.precision = "fp32" keeps a layer in float; its untagged neighbour is still quantized.
// CHECK-LABEL: func.func @negative_fp32_precision
// CHECK: %[[F:.*]] = "qc.linear"(%{{.*}}) {qc.precision = "fp32"}
// CHECK: "qc.quantize_dynamic"(%[[F]])
// CHECK: "qc.qlinear"({{.*}}) {act = "none", qc.precision = "w8a8"}
// CHECK-NOT: "qc.linear"
func.func @negative_fp32_precision(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %f = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %y = "qc.linear"(%f, %w, %b) : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A conv kept in fp32 stays qc.conv2d.
// CHECK-LABEL: func.func @negative_fp32_conv2d
// CHECK: "qc.conv2d"(%{{.*}}) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0>, qc.precision = "fp32", stride = array<i64: 1, 1>}
// CHECK-NOT: "qc.qconv2d"
func.func @negative_fp32_conv2d(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x1x2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, qc.precision = "fp32"} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// Activation x activation products (qc.matmul) are not weight layers and are left alone.
// CHECK-LABEL: func.func @negative_matmul
// CHECK-NOT: "qc.quantize_dynamic"
// CHECK: "qc.matmul"
// CHECK-NOT: "qc.qmatmul"
func.func @negative_matmul(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) -> tensor<4x5xf32> {
  %y = "qc.matmul"(%a, %b) : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// Already-quantized IR is a fixed point: running the pass again changes nothing.
// CHECK-LABEL: func.func @negative_already_quantized
// CHECK-NOT: "qc.quantize_dynamic"
// CHECK: "qc.qlinear"(%{{.*}}) {act = "relu", qc.precision = "w8a8"}
func.func @negative_already_quantized(%xq: tensor<1x4xi8>, %xs: tensor<1x1xf32>, %b: tensor<2xf32>) -> tensor<1x2xf32> {
  %wq = arith.constant dense<[[127, -1, 0, 5], [1, 2, 3, 4]]> : tensor<2x4xi8>
  %ws = arith.constant dense<[0.5, 0.25]> : tensor<2xf32>
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "relu", qc.precision = "w8a8"} : (tensor<1x4xi8>, tensor<1x1xf32>, tensor<2x4xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
