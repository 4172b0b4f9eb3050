// An error a pass reports about an op is printed like a parse or verifier error: located at the
// op in the input file (`file:line:col: error:`), one line, non-zero exit.
// RUN: not qcomp-opt %s -p qc-from-torch 2>&1 | filecheck %s

// torch.aten.erfinv has no lowering in torch-mlir's torch-to-linalg conversions.
// CHECK-NOT: Traceback
// CHECK: {{^.*}}pass-error-location.mlir:[[# @LINE + 3]]:8: error: {{.*}}'torch.aten.erfinv'
// CHECK-NOT: {{^}}error:
func.func @f(%arg0: !torch.vtensor<[3,3],f32>) -> !torch.vtensor<[3,3],f32> {
  %0 = torch.aten.erfinv %arg0 : !torch.vtensor<[3,3],f32> -> !torch.vtensor<[3,3],f32>
  return %0 : !torch.vtensor<[3,3],f32>
}
