// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// The table is [V, D]; a rank-3 table is rejected.
func.func @table_rank3(%w: tensor<10x4x2xf32>, %ids: tensor<2x3xi64>) -> tensor<2x3x4x2xf32> {
  // expected-error @+1 {{'qc.embedding' op table must be rank 2 [V, D], got rank 3}}
  %y = "qc.embedding"(%w, %ids) : (tensor<10x4x2xf32>, tensor<2x3xi64>) -> tensor<2x3x4x2xf32>
  return %y : tensor<2x3x4x2xf32>
}

// -----

// Float ids are not indices.
func.func @float_ids(%w: tensor<10x4xf32>, %ids: tensor<2x3xf32>) -> tensor<2x3x4xf32> {
  // expected-error @+1 {{ids must have an integer element type}}
  %y = "qc.embedding"(%w, %ids) : (tensor<10x4xf32>, tensor<2x3xf32>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}

// -----

// The result is ids.shape + [D]: D = 4, not 5.
func.func @result_shape(%w: tensor<10x4xf32>, %ids: tensor<2x3xi64>) -> tensor<2x3x5xf32> {
  // expected-error @+1 {{result shape [2, 3, 5] must be [2, 3, 4]}}
  %y = "qc.embedding"(%w, %ids) : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x5xf32>
  return %y : tensor<2x3x5xf32>
}
