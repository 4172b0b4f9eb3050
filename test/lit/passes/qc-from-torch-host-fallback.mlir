// Ops qc-from-torch leaves alone must still compile as host code ("an op qcomp does not know
// never stops a compile"), including the aten ops the front end keeps whole.
// RUN: qcomp-opt %s --split-input-file -p qc-from-torch | filecheck %s

// Softmax over the first dim is not qc.softmax.
// CHECK: module attributes {qc.host_ops = {torch.aten.softmax.int = 1 : i64}}
// CHECK-LABEL: func.func @negative_softmax_dim0
// CHECK-NOT: torch.
// CHECK: return
func.func @negative_softmax_dim0(%arg0: !torch.vtensor<[2,3],f32>) -> !torch.vtensor<[2,3],f32> {
  %none = torch.constant.none
  %int0 = torch.constant.int 0
  %0 = torch.aten.softmax.int %arg0, %int0, %none : !torch.vtensor<[2,3],f32>, !torch.int, !torch.none -> !torch.vtensor<[2,3],f32>
  return %0 : !torch.vtensor<[2,3],f32>
}

// -----

// A depthwise (groups = 2) conv is not qc.conv2d.
// CHECK: module attributes {qc.host_ops = {torch.aten.conv2d = 1 : i64}}
// CHECK-LABEL: func.func @negative_grouped_conv2d
// CHECK-NOT: torch.
// CHECK: return
func.func @negative_grouped_conv2d(%arg0: !torch.vtensor<[1,2,5,5],f32>) -> !torch.vtensor<[1,2,5,5],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %b = torch.vtensor.literal(dense<[0.5, -0.5]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %w = torch.vtensor.literal(dense<[[[[2.0]]], [[[-1.0]]]]> : tensor<2x1x1x1xf32>) : !torch.vtensor<[2,1,1,1],f32>
  %s = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %p = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %d = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %y = torch.aten.conv2d %arg0, %w, %b, %s, %p, %d, %int2 : !torch.vtensor<[1,2,5,5],f32>, !torch.vtensor<[2,1,1,1],f32>, !torch.vtensor<[2],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,2,5,5],f32>
  return %y : !torch.vtensor<[1,2,5,5],f32>
}

// -----

// nn.LayerNorm([2, 3]) normalizes two dims, which qc.layer_norm does not.
// CHECK: module attributes {qc.host_ops = {torch.aten.layer_norm = 1 : i64}}
// CHECK-LABEL: func.func @negative_layer_norm_two_dims
// CHECK-NOT: torch.
// CHECK: return
func.func @negative_layer_norm_two_dims(%arg0: !torch.vtensor<[4,2,3],f32>) -> !torch.vtensor<[4,2,3],f32> {
  %none = torch.constant.none
  %false = torch.constant.bool false
  %eps = torch.constant.float 1.000000e-05
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %shape = torch.prim.ListConstruct %int2, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %y = torch.aten.layer_norm %arg0, %shape, %none, %none, %eps, %false : !torch.vtensor<[4,2,3],f32>, !torch.list<int>, !torch.none, !torch.none, !torch.float, !torch.bool -> !torch.vtensor<[4,2,3],f32>
  return %y : !torch.vtensor<[4,2,3],f32>
}
