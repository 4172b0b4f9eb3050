// qc-quantize{abits=8,group=G,sym=false}: int8 activations and unsigned weight codes with a scale and a zero point
// per output channel and group of G input channels (qc.qlinear_grouped_asym), codes one per byte: qc.wlinear_asym's.
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{wbits=4,abits=8,group=2,sym=false}' | filecheck %s

// Groups of 2 at 4 bits (codes 0..15). Row 0: [3.5, -1] -> scale 4.5/15 = 0.3, z = roundeven(1/0.3) = 3, codes
// [15, 0]; [-0.875, 0.25] -> scale 0.075, z = 12, codes [0, 15]. Row 1: [7, 2] -> range [0, 7], scale 7/15, z 0,
// codes [15, 4]; an all-zero group gets scale 1, z 0, codes 0.
// CHECK-LABEL: func.func @linear
// CHECK: %[[Q:.*]]:2 = "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_token"}
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[15, 0, 0, 15], [15, 4, 0, 0]]> : tensor<2x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<{{\[}}[3.000000e-01, 7.500000e-02], [0.466666669, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG: %[[WZ:.*]] = arith.constant dense<{{\[}}[3, 12], [0, 0]]> : tensor<2x2xi8>
// CHECK: "qc.qlinear_grouped_asym"(%[[Q]]#0, %[[Q]]#1, %[[WQ]], %[[WS]], %[[WZ]], %{{.*}}) {act = "none", bits = 4 : i64, group = 2 : i64, qc.precision = "w4a8g2"}
// CHECK-NOT: "qc.qlinear_grouped"(
func.func @linear(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[3.5, -1.0, -0.875, 0.25], [7.0, 2.0, 0.0, 0.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A recorded range per group (qc-gptq{sym=false}'s `qc.weight_range`) replaces (min, max): group 0's [-1.5, 1.5]
// gives scale 0.2 and z = roundeven(7.5) = 8, so 3.5 saturates to 15 and -1 -> 3; group 1 as before.
// CHECK-LABEL: func.func @recorded_range
// CHECK-DAG: arith.constant dense<{{\[}}[15, 3, 0, 15]]> : tensor<1x4xi8>
// CHECK-DAG: arith.constant dense<{{\[}}[2.000000e-01, 7.500000e-02]]> : tensor<1x2xf32>
// CHECK-DAG: arith.constant dense<{{\[}}[8, 12]]> : tensor<1x2xi8>
// CHECK: "qc.qlinear_grouped_asym"
func.func @recorded_range(%x: tensor<3x4xf32>) -> tensor<3x1xf32> {
  %w = arith.constant dense<[[3.5, -1.0, -0.875, 0.25]]> : tensor<1x4xf32>
  %b = arith.constant dense<[0.5]> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.weight_range = dense<[[[-1.5, 1.5], [-0.875, 0.25]]]> : tensor<1x2x2xf32>} : (tensor<3x4xf32>, tensor<1x4xf32>, tensor<1xf32>) -> tensor<3x1xf32>
  return %y : tensor<3x1xf32>
}
