// RUN: qcomp-opt %s --split-input-file -p qc-from-torch -o %t
// RUN: filecheck %s --input-file %t
// RUN: filecheck %s --input-file %t --check-prefix=NOTORCH

// No torch op, torch_c cast or !torch type is left anywhere: every case is fully converted.
// NOTORCH-NOT: {{^ *(%[^ ]+ = )?torch(_c)?\.}}
// NOTORCH-NOT: !torch.

// A small MLP block as torch.export gives it: linear/relu/layer_norm/softmax become qc ops on
// builtin tensors, literals become arith.constant weights, and cumsum (no qc op) stays host code
// (lowered by torch-mlir) and is counted in the module's qc.host_ops.
// CHECK: module attributes {qc.host_ops = {torch.aten.cumsum = 1 : i64}}
// CHECK-LABEL: func.func @mlp_block
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>) -> tensor<2x3xf32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00], [-1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00]]> : tensor<3x4xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[5.000000e-01, 2.500000e-01, 1.250000e-01]> : tensor<3xf32>
// CHECK-DAG: %[[G:.*]] = arith.constant dense<2.000000e+00> : tensor<3xf32>
// CHECK-DAG: %[[BETA:.*]] = arith.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK: %[[L:.*]] = "qc.linear"(%[[X]], %[[W]], %[[B]]) : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK: %[[R:.*]] = "qc.relu"(%[[L]]) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[N:.*]] = "qc.layer_norm"(%[[R]], %[[G]], %[[BETA]]) {eps = 1.000000e-05 : f64}
// CHECK: %[[S:.*]] = "qc.softmax"(%[[N]]) {axis = -1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[C:.*]]:2 = tm_tensor.scan dimension(1) inclusive(true) ins(%[[S]] : tensor<2x3xf32>)
// CHECK: return %[[C]]#0 : tensor<2x3xf32>
func.func @mlp_block(%arg0: !torch.vtensor<[2,4],f32>) -> !torch.vtensor<[2,3],f32> {
  %int1 = torch.constant.int 1
  %none = torch.constant.none
  %int-1 = torch.constant.int -1
  %false = torch.constant.bool false
  %float1.000000e-05 = torch.constant.float 1.000000e-05
  %0 = torch.vtensor.literal(dense<0.000000e+00> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %1 = torch.vtensor.literal(dense<2.000000e+00> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %int3 = torch.constant.int 3
  %2 = torch.vtensor.literal(dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [-1.0, -1.0, -1.0, -1.0]]> : tensor<3x4xf32>) : !torch.vtensor<[3,4],f32>
  %3 = torch.vtensor.literal(dense<[0.5, 0.25, 0.125]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %4 = torch.aten.linear %arg0, %2, %3 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[3,4],f32>, !torch.vtensor<[3],f32> -> !torch.vtensor<[2,3],f32>
  %5 = torch.aten.relu %4 : !torch.vtensor<[2,3],f32> -> !torch.vtensor<[2,3],f32>
  %6 = torch.prim.ListConstruct %int3 : (!torch.int) -> !torch.list<int>
  %7 = torch.aten.layer_norm %5, %6, %1, %0, %float1.000000e-05, %false : !torch.vtensor<[2,3],f32>, !torch.list<int>, !torch.vtensor<[3],f32>, !torch.vtensor<[3],f32>, !torch.float, !torch.bool -> !torch.vtensor<[2,3],f32>
  %8 = torch.aten.softmax.int %7, %int-1, %none : !torch.vtensor<[2,3],f32>, !torch.int, !torch.none -> !torch.vtensor<[2,3],f32>
  %9 = torch.aten.cumsum %8, %int1, %none : !torch.vtensor<[2,3],f32>, !torch.int, !torch.none -> !torch.vtensor<[2,3],f32>
  return %9 : !torch.vtensor<[2,3],f32>
}

// -----

// F.linear without bias: the missing bias becomes a zero [N] constant; nothing is host code.
// CHECK: module attributes {qc.host_ops = {}}
// CHECK-LABEL: func.func @linear_no_bias
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, -2.000000e+00], [5.000000e-01, 4.000000e+00], [3.000000e+00, 2.500000e-01]]> : tensor<3x2xf32>
// CHECK-DAG: %[[Z:.*]] = arith.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[W]], %[[Z]]) : (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<4x3xf32>
func.func @linear_no_bias(%arg0: !torch.vtensor<[4,2],f32>) -> !torch.vtensor<[4,3],f32> {
  %0 = torch.vtensor.literal(dense<[[1.000000e+00, -2.000000e+00], [5.000000e-01, 4.000000e+00], [3.000000e+00, 2.500000e-01]]> : tensor<3x2xf32>) : !torch.vtensor<[3,2],f32>
  %none = torch.constant.none
  %1 = torch.aten.linear %arg0, %0, %none : !torch.vtensor<[4,2],f32>, !torch.vtensor<[3,2],f32>, !torch.none -> !torch.vtensor<[4,3],f32>
  return %1 : !torch.vtensor<[4,3],f32>
}

// -----

// A weight that is a function argument (not a literal) still gives qc.linear, reading the argument.
// CHECK-LABEL: func.func @linear_weight_argument
// CHECK-SAME: (%[[X:.*]]: tensor<4x2xf32>, %[[W:.*]]: tensor<3x2xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: "qc.linear"(%[[X]], %[[W]], %[[B]])
func.func @linear_weight_argument(%arg0: !torch.vtensor<[4,2],f32>, %arg1: !torch.vtensor<[3,2],f32>, %arg2: !torch.vtensor<[3],f32>) -> !torch.vtensor<[4,3],f32> {
  %1 = torch.aten.linear %arg0, %arg1, %arg2 : !torch.vtensor<[4,2],f32>, !torch.vtensor<[3,2],f32>, !torch.vtensor<[3],f32> -> !torch.vtensor<[4,3],f32>
  return %1 : !torch.vtensor<[4,3],f32>
}

// -----

// x @ W with a constant W [K, N] is a linear layer: the weight is stored transposed as [N, K].
// CHECK-LABEL: func.func @matmul_constant_rhs
// CHECK: %[[WT:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[WT]], %{{.*}}) : (tensor<4x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NOT: "qc.matmul"
func.func @matmul_constant_rhs(%arg0: !torch.vtensor<[4,2],f32>) -> !torch.vtensor<[4,3],f32> {
  %0 = torch.vtensor.literal(dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>) : !torch.vtensor<[2,3],f32>
  %1 = torch.aten.matmul %arg0, %0 : !torch.vtensor<[4,2],f32>, !torch.vtensor<[2,3],f32> -> !torch.vtensor<[4,3],f32>
  return %1 : !torch.vtensor<[4,3],f32>
}

// -----

// addmm(bias, x, W) with beta = alpha = 1 and a constant W [K, N] is also a linear layer.
// CHECK-LABEL: func.func @addmm_constant_weight
// CHECK-DAG: %[[WT:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense<[1.000000e+00, -1.000000e+00]> : tensor<2xf32>
// CHECK: "qc.linear"(%{{.*}}, %[[WT]], %[[B]]) : (tensor<5x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<5x2xf32>
func.func @addmm_constant_weight(%arg0: !torch.vtensor<[5,2],f32>) -> !torch.vtensor<[5,2],f32> {
  %int1 = torch.constant.int 1
  %0 = torch.vtensor.literal(dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %1 = torch.vtensor.literal(dense<[1.0, -1.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.aten.addmm %1, %arg0, %0, %int1, %int1 : !torch.vtensor<[2],f32>, !torch.vtensor<[5,2],f32>, !torch.vtensor<[2,2],f32>, !torch.int, !torch.int -> !torch.vtensor<[5,2],f32>
  return %2 : !torch.vtensor<[5,2],f32>
}

// -----

// Two activations (attention-style batched matmul) give qc.matmul, not a linear layer.
// CHECK-LABEL: func.func @matmul_activations
// CHECK-SAME: (%[[A:.*]]: tensor<2x3x4xf32>, %[[B:.*]]: tensor<2x4x5xf32>)
// CHECK: "qc.matmul"(%[[A]], %[[B]]) : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
func.func @matmul_activations(%arg0: !torch.vtensor<[2,3,4],f32>, %arg1: !torch.vtensor<[2,4,5],f32>) -> !torch.vtensor<[2,3,5],f32> {
  %0 = torch.aten.matmul %arg0, %arg1 : !torch.vtensor<[2,3,4],f32>, !torch.vtensor<[2,4,5],f32> -> !torch.vtensor<[2,3,5],f32>
  return %0 : !torch.vtensor<[2,3,5],f32>
}

// -----

// conv2d (stride 2, padding 1) becomes qc.conv2d with its list operands as [h, w] attributes.
// CHECK-LABEL: func.func @conv2d_stride_pad
// CHECK: "qc.conv2d"(%{{.*}}, %{{.*}}, %{{.*}}) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
func.func @conv2d_stride_pad(%arg0: !torch.vtensor<[1,2,5,5],f32>) -> !torch.vtensor<[1,3,3,3],f32> {
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %w = torch.vtensor.literal(dense<1.250000e-01> : tensor<3x2x3x3xf32>) : !torch.vtensor<[3,2,3,3],f32>
  %b = torch.vtensor.literal(dense<[0.5, 0.25, 0.125]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %4 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %5 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %6 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %7 = torch.aten.conv2d %arg0, %w, %b, %4, %5, %6, %int1 : !torch.vtensor<[1,2,5,5],f32>, !torch.vtensor<[3,2,3,3],f32>, !torch.vtensor<[3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,3,3,3],f32>
  return %7 : !torch.vtensor<[1,3,3,3],f32>
}

// -----

// A conv without bias and with single-entry lists: the front end expands them to [h, w] and adds a zero bias.
// CHECK-LABEL: func.func @conv2d_no_bias_short_lists
// CHECK: %[[Z:.*]] = arith.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK: "qc.conv2d"(%{{.*}}, %{{.*}}, %[[Z]]) {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>} : (tensor<1x2x4x4xf32>, tensor<4x2x1x1xf32>, tensor<4xf32>) -> tensor<1x4x4x4xf32>
func.func @conv2d_no_bias_short_lists(%arg0: !torch.vtensor<[1,2,4,4],f32>) -> !torch.vtensor<[1,4,4,4],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %none = torch.constant.none
  %w = torch.vtensor.literal(dense<1.0> : tensor<4x2x1x1xf32>) : !torch.vtensor<[4,2,1,1],f32>
  %s = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %p = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %d = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %y = torch.aten.conv2d %arg0, %w, %none, %s, %p, %d, %int1 : !torch.vtensor<[1,2,4,4],f32>, !torch.vtensor<[4,2,1,1],f32>, !torch.none, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,4,4],f32>
  return %y : !torch.vtensor<[1,4,4,4],f32>
}

// -----

// nn.Embedding: the table becomes a constant and the si64 ids become i64.
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[IDS:.*]]: tensor<1x3xi64>)
// CHECK: %[[T:.*]] = arith.constant dense<{{.*}}> : tensor<5x2xf32>
// CHECK: "qc.embedding"(%[[T]], %[[IDS]]) : (tensor<5x2xf32>, tensor<1x3xi64>) -> tensor<1x3x2xf32>
func.func @embedding(%arg0: !torch.vtensor<[1,3],si64>) -> !torch.vtensor<[1,3,2],f32> {
  %0 = torch.vtensor.literal(dense<[[-1.0, -0.25], [-0.5, 0.75], [1.5, 0.625], [0.125, 0.375], [1.25, 1.375]]> : tensor<5x2xf32>) : !torch.vtensor<[5,2],f32>
  %int-1 = torch.constant.int -1
  %false = torch.constant.bool false
  %1 = torch.aten.embedding %0, %arg0, %int-1, %false, %false : !torch.vtensor<[5,2],f32>, !torch.vtensor<[1,3],si64>, !torch.int, !torch.bool, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  return %1 : !torch.vtensor<[1,3,2],f32>
}

// -----

// Activations and same-shape binary ops: gelu keeps its approximate string; add with alpha 1 and mul become qc ops.
// CHECK: module attributes {qc.host_ops = {}}
// CHECK-LABEL: func.func @activations_and_binary
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>, %[[Y:.*]]: tensor<2x3xf32>)
// CHECK-DAG: "qc.gelu"(%[[X]]) {approximate = "none"}
// CHECK-DAG: "qc.gelu"(%[[X]]) {approximate = "tanh"}
// CHECK-DAG: "qc.silu"(%[[X]]) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-DAG: "qc.add"(%[[X]], %[[Y]]) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-DAG: "qc.mul"(%[[X]], %[[Y]]) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
func.func @activations_and_binary(%arg0: !torch.vtensor<[2,3],f32>, %arg1: !torch.vtensor<[2,3],f32>) -> (!torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>) {
  %int1 = torch.constant.int 1
  %str = torch.constant.str "tanh"
  %str_0 = torch.constant.str "none"
  %0 = torch.aten.gelu %arg0, %str_0 : !torch.vtensor<[2,3],f32>, !torch.str -> !torch.vtensor<[2,3],f32>
  %1 = torch.aten.gelu %arg0, %str : !torch.vtensor<[2,3],f32>, !torch.str -> !torch.vtensor<[2,3],f32>
  %2 = torch.aten.silu %arg0 : !torch.vtensor<[2,3],f32> -> !torch.vtensor<[2,3],f32>
  %3 = torch.aten.add.Tensor %arg0, %arg1, %int1 : !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.int -> !torch.vtensor<[2,3],f32>
  %4 = torch.aten.mul.Tensor %arg0, %arg1 : !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32> -> !torch.vtensor<[2,3],f32>
  return %0, %1, %2, %3, %4 : !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>
}

// -----

// A broadcasting add is not a qc.add: it stays host code, lowered to a linalg.generic.
// CHECK: module attributes {qc.host_ops = {torch.aten.add.Tensor = 1 : i64}}
// CHECK-LABEL: func.func @negative_add_broadcast
// CHECK-NOT: "qc.add"
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK-NOT: "qc.add"
func.func @negative_add_broadcast(%arg0: !torch.vtensor<[2,3],f32>, %arg1: !torch.vtensor<[3],f32>) -> !torch.vtensor<[2,3],f32> {
  %int1 = torch.constant.int 1
  %7 = torch.aten.add.Tensor %arg0, %arg1, %int1 : !torch.vtensor<[2,3],f32>, !torch.vtensor<[3],f32>, !torch.int -> !torch.vtensor<[2,3],f32>
  return %7 : !torch.vtensor<[2,3],f32>
}

// -----

// add with alpha != 1 (x + 2*y) is not a plain qc.add.
// CHECK: module attributes {qc.host_ops = {torch.aten.add.Tensor = 1 : i64}}
// CHECK-LABEL: func.func @negative_add_alpha
// CHECK-NOT: "qc.add"
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: "qc.add"
func.func @negative_add_alpha(%arg0: !torch.vtensor<[2,3],f32>, %arg1: !torch.vtensor<[2,3],f32>) -> !torch.vtensor<[2,3],f32> {
  %int2 = torch.constant.int 2
  %7 = torch.aten.add.Tensor %arg0, %arg1, %int2 : !torch.vtensor<[2,3],f32>, !torch.vtensor<[2,3],f32>, !torch.int -> !torch.vtensor<[2,3],f32>
  return %7 : !torch.vtensor<[2,3],f32>
}

// -----

// qc ops are float-only: an integer relu stays host code.
// CHECK: module attributes {qc.host_ops = {torch.aten.relu = 1 : i64}}
// CHECK-LABEL: func.func @negative_int_relu
// CHECK-NOT: "qc.relu"
// CHECK: arith.maxsi
// CHECK-NOT: "qc.relu"
func.func @negative_int_relu(%arg0: !torch.vtensor<[2,3],si32>) -> !torch.vtensor<[2,3],si32> {
  %7 = torch.aten.relu %arg0 : !torch.vtensor<[2,3],si32> -> !torch.vtensor<[2,3],si32>
  return %7 : !torch.vtensor<[2,3],si32>
}

// -----

// A module without torch ops is left untouched (no qc.host_ops attribute is added).
// CHECK-NOT: qc.host_ops
// CHECK-LABEL: func.func @negative_no_torch_ops
// CHECK: "qc.relu"(%{{.*}}) : (tensor<4xf32>) -> tensor<4xf32>
func.func @negative_no_torch_ops(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
