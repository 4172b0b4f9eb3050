// RUN: qcomp-opt %s --split-input-file -p qc-raise-norms | filecheck %s

// HF LlamaRMSNorm as torch.export spells it (sum/div for the mean) becomes one qc.rms_norm.
// CHECK-LABEL: func.func @llama_rms_norm
// CHECK-DAG: %[[X:.*]] = torch_c.to_builtin_tensor %arg0
// CHECK-DAG: %[[G:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]>
// CHECK: "qc.rms_norm"(%[[X]], %[[G]]) {eps = 9.9999999747524271E-7 : f64}
// CHECK-NOT: torch.aten.rsqrt
func.func @llama_rms_norm(%arg0: !torch.vtensor<[2,4],f32>) -> !torch.vtensor<[2,4],f32> {
  %int2 = torch.constant.int 2
  %int4 = torch.constant.int 4
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %true = torch.constant.bool true
  %none = torch.constant.none
  %eps = torch.constant.float 9.9999999747524271E-7
  %g = torch.vtensor.literal(dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>) : !torch.vtensor<[4],f32>
  %0 = torch.aten.pow.Tensor_Scalar %arg0, %int2 : !torch.vtensor<[2,4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
  %1 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %2 = torch.aten.sum.dim_IntList %0, %1, %true, %none : !torch.vtensor<[2,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
  %3 = torch.aten.div.Scalar %2, %int4 : !torch.vtensor<[2,1],f32>, !torch.int -> !torch.vtensor<[2,1],f32>
  %4 = torch.aten.add.Scalar %3, %eps, %int1 : !torch.vtensor<[2,1],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,1],f32>
  %5 = torch.aten.rsqrt %4 : !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,1],f32>
  %6 = torch.aten.mul.Tensor %arg0, %5 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,4],f32>
  %7 = torch.aten.mul.Tensor %g, %6 : !torch.vtensor<[4],f32>, !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
  return %7 : !torch.vtensor<[2,4],f32>
}

// -----

// mean.dim spelling without a gamma: qc.rms_norm with gamma = ones.
// CHECK-LABEL: func.func @mean_no_gamma
// CHECK: arith.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: "qc.rms_norm"
// CHECK-SAME: eps = 1.000000e-05
func.func @mean_no_gamma(%arg0: !torch.vtensor<[2,4],f32>) -> !torch.vtensor<[2,4],f32> {
  %int2 = torch.constant.int 2
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %true = torch.constant.bool true
  %none = torch.constant.none
  %eps = torch.constant.float 1.000000e-05
  %0 = torch.aten.pow.Tensor_Scalar %arg0, %int2 : !torch.vtensor<[2,4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
  %1 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %2 = torch.aten.mean.dim %0, %1, %true, %none : !torch.vtensor<[2,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
  %3 = torch.aten.add.Scalar %2, %eps, %int1 : !torch.vtensor<[2,1],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,1],f32>
  %4 = torch.aten.rsqrt %3 : !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,1],f32>
  %5 = torch.aten.mul.Tensor %4, %arg0 : !torch.vtensor<[2,1],f32>, !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
  return %5 : !torch.vtensor<[2,4],f32>
}

// -----

// The mean runs over the wrong length (3 instead of 4): not an RMSNorm, left alone.
// CHECK-LABEL: func.func @negative_wrong_divisor
// CHECK-NOT: qc.rms_norm
// CHECK: torch.aten.rsqrt
func.func @negative_wrong_divisor(%arg0: !torch.vtensor<[2,4],f32>) -> !torch.vtensor<[2,4],f32> {
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %true = torch.constant.bool true
  %none = torch.constant.none
  %eps = torch.constant.float 1.000000e-05
  %0 = torch.aten.pow.Tensor_Scalar %arg0, %int2 : !torch.vtensor<[2,4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
  %1 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %2 = torch.aten.sum.dim_IntList %0, %1, %true, %none : !torch.vtensor<[2,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
  %3 = torch.aten.div.Scalar %2, %int3 : !torch.vtensor<[2,1],f32>, !torch.int -> !torch.vtensor<[2,1],f32>
  %4 = torch.aten.add.Scalar %3, %eps, %int1 : !torch.vtensor<[2,1],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,1],f32>
  %5 = torch.aten.rsqrt %4 : !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,1],f32>
  %6 = torch.aten.mul.Tensor %arg0, %5 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,4],f32>
  return %6 : !torch.vtensor<[2,4],f32>
}

// -----

// x² of one tensor normalizes another: not an RMSNorm, left alone.
// CHECK-LABEL: func.func @negative_other_tensor
// CHECK-NOT: qc.rms_norm
func.func @negative_other_tensor(%arg0: !torch.vtensor<[2,4],f32>, %arg1: !torch.vtensor<[2,4],f32>) -> !torch.vtensor<[2,4],f32> {
  %int2 = torch.constant.int 2
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %true = torch.constant.bool true
  %none = torch.constant.none
  %eps = torch.constant.float 1.000000e-05
  %0 = torch.aten.pow.Tensor_Scalar %arg1, %int2 : !torch.vtensor<[2,4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
  %1 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %2 = torch.aten.mean.dim %0, %1, %true, %none : !torch.vtensor<[2,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
  %3 = torch.aten.add.Scalar %2, %eps, %int1 : !torch.vtensor<[2,1],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,1],f32>
  %4 = torch.aten.rsqrt %3 : !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,1],f32>
  %5 = torch.aten.mul.Tensor %arg0, %4 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,4],f32>
  return %5 : !torch.vtensor<[2,4],f32>
}
