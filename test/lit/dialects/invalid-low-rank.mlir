// A verifier reports one diagnostic per bad op: the first failed invariant.
// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// A rank-1 weight: the rank check fails, then the K check reads w[1].
func.func @linear_rank1_weight(%x: tensor<4x16xf32>, %w: tensor<16xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{weight must be rank 2 [N, K], got rank 1}}
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Rank-1 matmul operands: the rank check fails, then the contraction check reads b[-2].
func.func @matmul_rank1(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{operands must have equal rank >= 2, got 1 and 1}}
  %y = "qc.matmul"(%a, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
