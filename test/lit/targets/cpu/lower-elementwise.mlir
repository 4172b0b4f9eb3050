// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// GELU, erf form: 0.5 * x * (1 + erf(x / sqrt(2))).
// CHECK-LABEL: func.func @gelu_erf
// CHECK-DAG: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[R2:.*]] = arith.constant 1.41421354 : f32
// CHECK: ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[HX:.*]] = arith.mulf %[[X]], %[[HALF]] : f32
// CHECK-NEXT: %[[Q:.*]] = arith.divf %[[X]], %[[R2]] : f32
// CHECK-NEXT: %[[E:.*]] = math.erf %[[Q]] : f32
// CHECK-NEXT: %[[U:.*]] = arith.addf %[[E]], %[[ONE]] : f32
// CHECK-NEXT: %[[Y:.*]] = arith.mulf %[[HX]], %[[U]] : f32
// CHECK-NEXT: linalg.yield %[[Y]] : f32
// CHECK-NOT: math.tanh
func.func @gelu_erf(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = "qc.gelu"(%x) {approximate = "none"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// GELU, tanh form: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
// CHECK-LABEL: func.func @gelu_tanh
// CHECK-DAG: arith.constant 0.797884583 : f32
// CHECK-DAG: arith.constant 4.471500e-02 : f32
// CHECK: math.tanh
// CHECK-NOT: math.erf
func.func @gelu_tanh(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = "qc.gelu"(%x) {approximate = "tanh"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// SiLU as x / (1 + exp(-x)).
// CHECK-LABEL: func.func @silu
// CHECK: ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[N:.*]] = arith.negf %[[X]] : f32
// CHECK-NEXT: %[[E:.*]] = math.exp %[[N]] : f32
// CHECK-NEXT: %[[D:.*]] = arith.addf %[[E]], %{{.*}} : f32
// CHECK-NEXT: %[[Y:.*]] = arith.divf %[[X]], %[[D]] : f32
// CHECK-NEXT: linalg.yield %[[Y]] : f32
func.func @silu(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = "qc.silu"(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// ReLU as maximumf with 0.
// CHECK-LABEL: func.func @relu
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-DAG: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<4x8xf32>)
// CHECK: ^bb0(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[R:.*]] = arith.maximumf %[[V]], %[[Z]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
func.func @relu(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %r = "qc.relu"(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// add: a same-shape elementwise generic, lhs and rhs in order.
// CHECK-LABEL: func.func @add
// CHECK-SAME: (%[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<4x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[A]], %[[B]] : tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK: ^bb0(%[[L:.*]]: f32, %[[RV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[L]], %[[RV]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
func.func @add(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %s = "qc.add"(%a, %b) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// mul: the same with mulf.
// CHECK-LABEL: func.func @mul
// CHECK-SAME: (%[[A:.*]]: tensor<4x8xf32>, %[[B:.*]]: tensor<4x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[A]], %[[B]] : tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK: ^bb0(%[[L:.*]]: f32, %[[RV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[L]], %[[RV]] : f32
// CHECK-NEXT: linalg.yield %[[M]] : f32
func.func @mul(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %m = "qc.mul"(%a, %b) : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %m : tensor<4x8xf32>
}

// -----

// channel_scale broadcasts s [C] along the last dim.
// CHECK-DAG: #[[LAST:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @channel_scale
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x8xf32>, %[[S:.*]]: tensor<8xf32>)
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[LAST]], #{{.*}}]{{.*}} ins(%[[X]], %[[S]] : tensor<2x3x8xf32>, tensor<8xf32>)
// CHECK: arith.mulf
func.func @channel_scale(%x: tensor<2x3x8xf32>, %s: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.channel_scale"(%x, %s) : (tensor<2x3x8xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// channel_permute gathers x[..., perm[j]] with the permutation as an i64 constant.
// CHECK-LABEL: func.func @channel_permute
// CHECK-SAME: (%[[X:.*]]: tensor<5x4xf32>)
// CHECK: %[[PERM:.*]] = arith.constant dense<[3, 0, 2, 1]> : tensor<4xi64>
// CHECK: linalg.generic {{.*}} ins(%[[PERM]] : tensor<4xi64>) outs(%{{.*}} : tensor<5x4xf32>)
// CHECK: ^bb0(%[[P:.*]]: i64, %{{.*}}: f32):
// CHECK-NEXT: %[[I:.*]] = linalg.index 0 : index
// CHECK-NEXT: %[[J:.*]] = arith.index_cast %[[P]] : i64 to index
// CHECK-NEXT: %[[E:.*]] = tensor.extract %[[X]][%[[I]], %[[J]]] : tensor<5x4xf32>
// CHECK-NEXT: linalg.yield %[[E]] : f32
func.func @channel_permute(%x: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %y = "qc.channel_permute"(%x) {perm = array<i64: 3, 0, 2, 1>} : (tensor<5x4xf32>) -> tensor<5x4xf32>
  return %y : tensor<5x4xf32>
}
