// qc-quantize{abits=16}: weight-only quantization (the w8a16 / w4a16 recipes).
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{abits=16}' | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{wbits=4,abits=16,group=2}' | filecheck %s --check-prefix=W4

// int8 per output channel (group = K = 4): row 0 max|w| = 1.27 -> scale 0.01 -> [127, -50, 0, 70];
// row 1 max|w| = 2.54 -> scale 0.02 -> [-127, 50, 25, 13]. Scales are [N, 1]; x stays f32.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<4x4xf32>)
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e-01, -1.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[127, -50, 0, 70], [-127, 50, 25, 13]]> : tensor<2x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<{{\[}}[0.00999999977], [2.000000e-02]]> : tensor<2x1xf32>
// CHECK: %[[Y:.*]] = "qc.wlinear"(%[[X]], %[[WQ]], %[[WS]], %[[B]]) {bits = 8 : i64, group = 4 : i64, qc.precision = "w8a16"} : (tensor<4x4xf32>, tensor<2x4xi8>, tensor<2x1xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: "qc.quantize_dynamic"
// CHECK: return %[[Y]]
//
// int4 in groups of 2: row 0 groups [1.27, -0.5] (scale 1.27/7, q [7, -3]) and [0, 0.7] (scale 0.1,
// q [0, 7]); row 1 [-2.54, 1] (2.54/7: [-7, 3]) and [0.5, 0.26] (0.5/7: [7, 4]). Packed low nibble
// first: (7, -3) -> 0xD7 = -41, (0, 7) -> 0x70 = 112, (-7, 3) -> 0x39 = 57, (7, 4) -> 0x47 = 71.
// W4-LABEL: func.func @linear
// W4-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[-41, 112], [57, 71]]> : tensor<2x2xi8>
// W4-DAG: %[[WS:.*]] = arith.constant dense<{{\[}}[0.181428567, 1.000000e-01], [0.362857133, 0.0714285746]]> : tensor<2x2xf32>
// W4: "qc.wlinear"(%{{.*}}, %[[WQ]], %[[WS]], %{{.*}}) {bits = 4 : i64, group = 2 : i64, qc.precision = "w4a16"}
func.func @linear(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.27, -0.5, 0.0, 0.7], [-2.54, 1.0, 0.5, 0.26]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// An odd K (3) with group 2: the last group is partial (scales [N, 2]) and the packed row is padded
// with a zero nibble: row [1.4, -0.7, 0.35] -> groups [1.4, -0.7] (scale 0.2: [7, -4], half to even
// of -3.5) and [0.35] (scale 0.05: [7]); bytes (7, -4) -> 0xC7 = -57, (7, pad 0) -> 0x07 = 7.
// CHECK-LABEL: func.func @linear_odd_k
// CHECK: "qc.wlinear"({{.*}}) {bits = 8 : i64, group = 3 : i64, qc.precision = "w8a16"} : (tensor<2x3xf32>, tensor<1x3xi8>, tensor<1x1xf32>, tensor<1xf32>) -> tensor<2x1xf32>
// W4-LABEL: func.func @linear_odd_k
// W4-DAG: arith.constant dense<{{\[}}[-57, 7]]> : tensor<1x2xi8>
// W4-DAG: arith.constant dense<{{\[}}[2.000000e-01, 5.000000e-02]]> : tensor<1x2xf32>
// W4: "qc.wlinear"({{.*}} : (tensor<2x3xf32>, tensor<1x2xi8>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<2x1xf32>
func.func @linear_odd_k(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<[[1.4, -0.7, 0.35]]> : tensor<1x3xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x3xf32>, tensor<1x3xf32>, tensor<1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// Convolutions keep a float conv fed by qc.dequantize of per-output-channel integer weights (i8 storage).
// CHECK-LABEL: func.func @conv2d
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[{{\[}}[127, -64], [13, 0]]], [{{\[}}[-127, 50], [25, 13]]]]> : tensor<2x1x2x2xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<[0.00999999977, 2.000000e-02]> : tensor<2xf32>
// CHECK: %[[W:.*]] = "qc.dequantize"(%[[WQ]], %[[WS]]) {axis = 0 : i64} : (tensor<2x1x2x2xi8>, tensor<2xf32>) -> tensor<2x1x2x2xf32>
// CHECK: "qc.conv2d"(%{{.*}}, %[[W]], %{{.*}}) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 0>, qc.precision = "w8a16", stride = array<i64: 2, 1>}
// W4-LABEL: func.func @conv2d
// W4: arith.constant dense<{{\[}}[{{\[}}[7, -4], [1, 0]]], [{{\[}}[-7, 3], [1, 1]]]]> : tensor<2x1x2x2xi8>
// W4: "qc.conv2d"({{.*}}qc.precision = "w4a16"
func.func @conv2d(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %w = arith.constant dense<[[[[1.27, -0.64], [0.13, 0.0]]], [[[-2.54, 1.0], [0.5, 0.26]]]]> : tensor<2x1x2x2xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 2, 1>, padding = array<i64: 1, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}

// -----

// A weight that is a function argument is not known offline: nothing changes.
// CHECK-LABEL: func.func @negative_weight_argument
// CHECK: "qc.linear"
// CHECK-NOT: "qc.wlinear"
// W4-LABEL: func.func @negative_weight_argument
// W4-NOT: "qc.wlinear"
func.func @negative_weight_argument(%x: tensor<4x3xf32>, %w: tensor<2x3xf32>, %b: tensor<2xf32>) -> tensor<4x2xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// qc.precision = "fp32" keeps a layer in float.
// CHECK-LABEL: func.func @negative_fp32_precision
// CHECK: "qc.linear"(%{{.*}}) {qc.precision = "fp32"}
// CHECK-NOT: "qc.wlinear"
func.func @negative_fp32_precision(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Already weight-only IR is a fixed point: the float conv reads a computed (dequantized) weight.
// CHECK-LABEL: func.func @negative_already_quantized
// CHECK-COUNT-1: "qc.dequantize"
// CHECK: "qc.conv2d"
// CHECK-NOT: "qc.dequantize"
func.func @negative_already_quantized(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x2x2xf32> {
  %wq = arith.constant dense<1> : tensor<2x1x2x2xi8>
  %ws = arith.constant dense<0.5> : tensor<2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %w = "qc.dequantize"(%wq, %ws) {axis = 0 : i64} : (tensor<2x1x2x2xi8>, tensor<2xf32>) -> tensor<2x1x2x2xf32>
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64, qc.precision = "w8a16"} : (tensor<1x1x3x3xf32>, tensor<2x1x2x2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  return %y : tensor<1x2x2x2xf32>
}
