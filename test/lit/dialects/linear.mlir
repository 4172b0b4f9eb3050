// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// A 2-D input: the plain [M, K] x [N, K]^T + [N] case round-trips in generic form.
// CHECK-LABEL: func.func @linear_2d
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[Y:.*]] = "qc.linear"(%[[X]], %[[W]], %[[B]]) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK: return %[[Y]] : tensor<4x8xf32>
func.func @linear_2d(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Leading batch dimensions ([B, T, K]) are kept in the result ([B, T, N]).
// CHECK-LABEL: func.func @linear_batched
// CHECK: "qc.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<2x3x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
func.func @linear_batched(%x: tensor<2x3x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x3x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// A rank-1 input (a single vector) is allowed: the result is [N].
// CHECK-LABEL: func.func @linear_vector
// CHECK: "qc.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<8xf32>
func.func @linear_vector(%x: tensor<16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %y : tensor<8xf32>
}

// -----

// Constant weights (what qc-from-torch produces) and other float types (bf16) are accepted.
// CHECK-LABEL: func.func @linear_constant_weight_bf16
// CHECK: %[[W:.*]] = arith.constant dense<{{.*}}> : tensor<2x2xbf16>
// CHECK: %[[B:.*]] = arith.constant dense<0.000000e+00> : tensor<2xbf16>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %[[B]]) : (tensor<3x2xbf16>, tensor<2x2xbf16>, tensor<2xbf16>) -> tensor<3x2xbf16>
func.func @linear_constant_weight_bf16(%x: tensor<3x2xbf16>) -> tensor<3x2xbf16> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xbf16>
  %b = arith.constant dense<0.0> : tensor<2xbf16>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x2xbf16>, tensor<2x2xbf16>, tensor<2xbf16>) -> tensor<3x2xbf16>
  return %y : tensor<3x2xbf16>
}

// -----

// Discardable attributes such as qc.precision survive the round trip.
// CHECK-LABEL: func.func @linear_precision_attr
// CHECK: "qc.linear"(%{{.*}}) {qc.precision = "fp32"}
func.func @linear_precision_attr(%x: tensor<1x4xf32>, %w: tensor<2x4xf32>, %b: tensor<2xf32>) -> tensor<1x2xf32> {
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<1x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Dynamic leading dimensions (qcomp.compile(dynamic_shapes=...)): batch and sequence sizes known at run time.
// CHECK-LABEL: func.func @linear_dynamic_rows
// CHECK: "qc.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
func.func @linear_dynamic_rows(%x: tensor<?x?x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<?x?x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<?x?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  return %y : tensor<?x?x8xf32>
}
