// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// K of a and b must agree.
func.func @contraction_mismatch(%aq: tensor<4x8xi8>, %as: tensor<4x1xf32>, %bq: tensor<7x5xi8>, %bs: tensor<1x5xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{'qc.qmatmul' op operand shapes [4, 8] and [7, 5] do not form a batched matmul}}
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<7x5xi8>, tensor<1x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// Batch dims must agree.
func.func @batch_mismatch(%aq: tensor<2x4x8xi8>, %as: tensor<2x4x1xf32>, %bq: tensor<3x8x5xi8>, %bs: tensor<3x1x5xf32>) -> tensor<2x4x5xf32> {
  // expected-error @+1 {{operand shapes [2, 4, 8] and [3, 8, 5] do not form a batched matmul}}
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<2x4x8xi8>, tensor<2x4x1xf32>, tensor<3x8x5xi8>, tensor<3x1x5xf32>) -> tensor<2x4x5xf32>
  return %y : tensor<2x4x5xf32>
}

// -----

// a's scale is per row [M, 1]; a per-tensor [1] is rejected.
func.func @row_scale_shape(%aq: tensor<4x8xi8>, %as: tensor<1xf32>, %bq: tensor<8x5xi8>, %bs: tensor<1x5xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{scales must be [..., M, 1] and [..., 1, N]}}
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<4x8xi8>, tensor<1xf32>, tensor<8x5xi8>, tensor<1x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// b's scale is per column [1, N]; [N, 1] is the wrong orientation.
func.func @column_scale_shape(%aq: tensor<4x8xi8>, %as: tensor<4x1xf32>, %bq: tensor<8x5xi8>, %bs: tensor<5x1xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{scales must be [..., M, 1] and [..., 1, N]}}
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x5xi8>, tensor<5x1xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// The result is [..., M, N].
func.func @result_shape(%aq: tensor<4x8xi8>, %as: tensor<4x1xf32>, %bq: tensor<8x5xi8>, %bs: tensor<1x5xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{result shape [4, 8] must be [4, 5]}}
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x5xi8>, tensor<1x5xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
