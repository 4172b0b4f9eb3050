// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// Rank-2 integer matmul: per-row scales of a [M, 1] and per-column scales of b [1, N].
// CHECK-LABEL: func.func @qmatmul_2d
// CHECK-SAME: (%[[AQ:.*]]: tensor<4x8xi8>, %[[AS:.*]]: tensor<4x1xf32>, %[[BQ:.*]]: tensor<8x5xi8>, %[[BS:.*]]: tensor<1x5xf32>)
// CHECK: %[[Y:.*]] = "qc.qmatmul"(%[[AQ]], %[[AS]], %[[BQ]], %[[BS]]) : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x5xi8>, tensor<1x5xf32>) -> tensor<4x5xf32>
// CHECK: return %[[Y]]
func.func @qmatmul_2d(%aq: tensor<4x8xi8>, %as: tensor<4x1xf32>, %bq: tensor<8x5xi8>, %bs: tensor<1x5xf32>) -> tensor<4x5xf32> {
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x5xi8>, tensor<1x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}

// -----

// Batched (attention) form: scales carry the batch dims, [B, H, M, 1] and [B, H, 1, N].
// CHECK-LABEL: func.func @qmatmul_batched
// CHECK: "qc.qmatmul"({{.*}}) : (tensor<2x4x6x8xi8>, tensor<2x4x6x1xf32>, tensor<2x4x8x6xi8>, tensor<2x4x1x6xf32>) -> tensor<2x4x6x6xf32>
func.func @qmatmul_batched(%aq: tensor<2x4x6x8xi8>, %as: tensor<2x4x6x1xf32>, %bq: tensor<2x4x8x6xi8>, %bs: tensor<2x4x1x6xf32>) -> tensor<2x4x6x6xf32> {
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<2x4x6x8xi8>, tensor<2x4x6x1xf32>, tensor<2x4x8x6xi8>, tensor<2x4x1x6xf32>) -> tensor<2x4x6x6xf32>
  return %y : tensor<2x4x6x6xf32>
}
