// qc-quantize{sym=false}: asymmetric weight-only quantization (qc.wlinear_asym: unsigned codes, zero points).
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{wbits=4,abits=16,group=2,sym=false}' | filecheck %s

// Groups of 2 at 4 bits. Row 0: [0, 3] -> scale 0.2, zp 0, codes [0, 15]; [-1.5, 0] -> scale 0.1, zp 15,
// codes [0, 15]. Row 1: [1.5, 3] (range widened to [0, 3]) -> scale 0.2, zp 0, codes [8 (7.5 half to even),
// 15]; [-0.3, -0.6] -> scale f32(f32(0.6) / 15) = 0.0400000028, zp 15, codes [8 (-0.3 / scale = -7.4999998
// -> -7, + 15), 0]. Packed low nibble first: (0, 15) -> 0xF0 = -16; (8, 15) -> 0xF8 = -8; (8, 0) -> 8.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[-16, -16], [-8, 8]]> : tensor<2x2xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<{{\[}}[2.000000e-01, 1.000000e-01], [2.000000e-01, 0.0400000028]]> : tensor<2x2xf32>
// CHECK-DAG: %[[WZ:.*]] = arith.constant dense<{{\[}}[0, 15], [0, 15]]> : tensor<2x2xi8>
// CHECK: "qc.wlinear_asym"(%{{.*}}, %[[WQ]], %[[WS]], %[[WZ]], %{{.*}}) {bits = 4 : i64, group = 2 : i64, qc.precision = "w4a16"}
// CHECK-NOT: "qc.wlinear"(
func.func @linear(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[0.0, 3.0, -1.5, 0.0], [1.5, 3.0, -0.3, -0.6]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A recorded range (qc-gptq{sym=false}'s `qc.weight_range`, (lo, hi) per group) replaces min/max: group 0's
// [0, 1.5] gives scale 0.1 and the 3.0 saturates to code 15; group 1's [-1.5, 0] as before.
// CHECK-LABEL: func.func @recorded_range
// CHECK-DAG: arith.constant dense<-16> : tensor<1x2xi8>
// CHECK-DAG: arith.constant dense<1.000000e-01> : tensor<1x2xf32>
// CHECK-DAG: arith.constant dense<{{\[}}[0, 15]]> : tensor<1x2xi8>
// CHECK: "qc.wlinear_asym"
func.func @recorded_range(%x: tensor<4x4xf32>) -> tensor<4x1xf32> {
  %w = arith.constant dense<[[0.0, 3.0, -1.5, 0.0]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.weight_range = dense<[[[0.0, 1.5], [-1.5, 0.0]]]> : tensor<1x2x2xf32>} : (tensor<4x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}

// -----

// A layer kept in float is left alone.
// CHECK-LABEL: func.func @negative_fp32_layer
// CHECK: "qc.linear"
// CHECK-NOT: "qc.wlinear_asym"
func.func @negative_fp32_layer(%x: tensor<4x4xf32>) -> tensor<4x1xf32> {
  %w = arith.constant dense<[[0.0, 3.0, -1.5, 0.0]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<4x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<4x1xf32>
  return %y : tensor<4x1xf32>
}
