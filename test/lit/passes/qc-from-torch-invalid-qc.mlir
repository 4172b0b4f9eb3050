// qc-from-torch must only create verifier-valid qc ops: a torch op outside a qc op's domain stays
// host code (or is converted correctly), and the pass succeeds.
// RUN: qcomp-opt %s --split-input-file -p qc-from-torch | filecheck %s

// LayerNorm with eps = 0 (allowed by torch).
// CHECK-LABEL: func.func @layer_norm_eps_zero
// CHECK-NOT: torch.
// CHECK: return
func.func @layer_norm_eps_zero(%arg0: !torch.vtensor<[2,3],f32>) -> !torch.vtensor<[2,3],f32> {
  %false = torch.constant.bool false
  %float0 = torch.constant.float 0.000000e+00
  %0 = torch.vtensor.literal(dense<0.000000e+00> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %1 = torch.vtensor.literal(dense<1.000000e+00> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %int3 = torch.constant.int 3
  %2 = torch.prim.ListConstruct %int3 : (!torch.int) -> !torch.list<int>
  %3 = torch.aten.layer_norm %arg0, %2, %1, %0, %float0, %false : !torch.vtensor<[2,3],f32>, !torch.list<int>, !torch.vtensor<[3],f32>, !torch.vtensor<[3],f32>, !torch.float, !torch.bool -> !torch.vtensor<[2,3],f32>
  return %3 : !torch.vtensor<[2,3],f32>
}

// -----

// Conv2d on an unbatched [C, H, W] input (what torch.export gives for nn.Conv2d on a 3-D tensor).
// CHECK-LABEL: func.func @conv2d_unbatched
// CHECK-NOT: torch.
// CHECK: return
func.func @conv2d_unbatched(%arg0: !torch.vtensor<[2,4,4],f32>) -> !torch.vtensor<[3,4,4],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %w = torch.vtensor.literal(dense<1.0> : tensor<3x2x1x1xf32>) : !torch.vtensor<[3,2,1,1],f32>
  %b = torch.vtensor.literal(dense<[-0.5, 0.25, 0.125]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %s = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %p = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %d = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %y = torch.aten.conv2d %arg0, %w, %b, %s, %p, %d, %int1 : !torch.vtensor<[2,4,4],f32>, !torch.vtensor<[3,2,1,1],f32>, !torch.vtensor<[3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[3,4,4],f32>
  return %y : !torch.vtensor<[3,4,4],f32>
}
