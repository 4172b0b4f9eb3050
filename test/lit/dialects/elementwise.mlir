// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// A residual add of two same-shape tensors.
// CHECK-LABEL: func.func @add_residual
// CHECK-SAME: (%[[A:.*]]: tensor<2x3x8xf32>, %[[B:.*]]: tensor<2x3x8xf32>)
// CHECK: %[[Y:.*]] = "qc.add"(%[[A]], %[[B]]) : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
// CHECK: return %[[Y]]
func.func @add_residual(%a: tensor<2x3x8xf32>, %b: tensor<2x3x8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.add"(%a, %b) : (tensor<2x3x8xf32>, tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// A SwiGLU-style gate: mul of silu(x) and x; operand order is kept (lhs, rhs).
// CHECK-LABEL: func.func @mul_gate
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>)
// CHECK: %[[S:.*]] = "qc.silu"(%[[X]])
// CHECK: "qc.mul"(%[[S]], %[[X]]) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
func.func @mul_gate(%x: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %s = "qc.silu"(%x) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %y = "qc.mul"(%s, %x) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// Rank-0 (scalar tensor) operands are same-shape too.
// CHECK-LABEL: func.func @add_scalar_tensors
// CHECK: "qc.add"(%{{.*}}, %{{.*}}) : (tensor<f32>, tensor<f32>) -> tensor<f32>
func.func @add_scalar_tensors(%a: tensor<f32>, %b: tensor<f32>) -> tensor<f32> {
  %y = "qc.add"(%a, %b) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return %y : tensor<f32>
}
