// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// Token ids [B, T] (i64, as torch gives them) gather rows of a [V, D] table: result [B, T, D].
// CHECK-LABEL: func.func @embedding_i64_ids
// CHECK-SAME: (%[[W:.*]]: tensor<10x4xf32>, %[[IDS:.*]]: tensor<2x3xi64>)
// CHECK: %[[Y:.*]] = "qc.embedding"(%[[W]], %[[IDS]]) : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
// CHECK: return %[[Y]]
func.func @embedding_i64_ids(%w: tensor<10x4xf32>, %ids: tensor<2x3xi64>) -> tensor<2x3x4xf32> {
  %y = "qc.embedding"(%w, %ids) : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}

// -----

// Any integer id type works (i32 here), and a rank-1 id vector gives [T, D].
// CHECK-LABEL: func.func @embedding_i32_vector
// CHECK: "qc.embedding"(%{{.*}}, %{{.*}}) : (tensor<10x4xf32>, tensor<5xi32>) -> tensor<5x4xf32>
func.func @embedding_i32_vector(%w: tensor<10x4xf32>, %ids: tensor<5xi32>) -> tensor<5x4xf32> {
  %y = "qc.embedding"(%w, %ids) : (tensor<10x4xf32>, tensor<5xi32>) -> tensor<5x4xf32>
  return %y : tensor<5x4xf32>
}

// -----

// A constant table (the front end's weights) round-trips with its data.
// CHECK-LABEL: func.func @embedding_constant_table
// CHECK: %[[T:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK: "qc.embedding"(%[[T]], %{{.*}}) : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
func.func @embedding_constant_table(%ids: tensor<1x4xi64>) -> tensor<1x4x2xf32> {
  %t = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %y = "qc.embedding"(%t, %ids) : (tensor<3x2xf32>, tensor<1x4xi64>) -> tensor<1x4x2xf32>
  return %y : tensor<1x4x2xf32>
}
