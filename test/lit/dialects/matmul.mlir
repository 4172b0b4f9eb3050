// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// Activation x activation product of two rank-2 tensors: [M, K] x [K, N] -> [M, N].
// CHECK-LABEL: func.func @matmul_2d
// CHECK-SAME: (%[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<8x5xf32>)
// CHECK: %[[Y:.*]] = "qc.matmul"(%[[A]], %[[B]]) : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
// CHECK: return %[[Y]]
func.func @matmul_2d(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) -> tensor<4x5xf32> {
  %y = "qc.matmul"(%a, %b) : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// Attention scores: batch and head dimensions in front of [T, D] x [D, T].
// CHECK-LABEL: func.func @matmul_attention_scores
// CHECK: "qc.matmul"(%{{.*}}, %{{.*}}) : (tensor<2x4x6x8xf32>, tensor<2x4x8x6xf32>) -> tensor<2x4x6x6xf32>
func.func @matmul_attention_scores(%q: tensor<2x4x6x8xf32>, %kt: tensor<2x4x8x6xf32>) -> tensor<2x4x6x6xf32> {
  %s = "qc.matmul"(%q, %kt) : (tensor<2x4x6x8xf32>, tensor<2x4x8x6xf32>) -> tensor<2x4x6x6xf32>
  return %s : tensor<2x4x6x6xf32>
}

// -----

// Two chained matmuls in one function: both ops and the use-def chain are kept.
// CHECK-LABEL: func.func @matmul_chain
// CHECK: %[[S:.*]] = "qc.matmul"(%{{.*}}, %{{.*}}) : (tensor<3x6x6xf32>, tensor<3x6x6xf32>) -> tensor<3x6x6xf32>
// CHECK: %[[O:.*]] = "qc.matmul"(%[[S]], %{{.*}}) : (tensor<3x6x6xf32>, tensor<3x6x4xf32>) -> tensor<3x6x4xf32>
// CHECK: return %[[O]]
func.func @matmul_chain(%a: tensor<3x6x6xf32>, %v: tensor<3x6x4xf32>) -> tensor<3x6x4xf32> {
  %s = "qc.matmul"(%a, %a) : (tensor<3x6x6xf32>, tensor<3x6x6xf32>) -> tensor<3x6x6xf32>
  %o = "qc.matmul"(%s, %v) : (tensor<3x6x6xf32>, tensor<3x6x4xf32>) -> tensor<3x6x4xf32>
  return %o : tensor<3x6x4xf32>
}
