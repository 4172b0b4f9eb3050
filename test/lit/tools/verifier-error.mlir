// An op that fails its verifier is reported at its own line and column with the op name, and the
// exit status is non-zero.
// RUN: not qcomp-opt %s 2>&1 | filecheck %s

// CHECK-NOT: Traceback
// CHECK: {{.*}}verifier-error.mlir:[[# @LINE + 3]]:8: error: 'qc.linear' op input features [16] do not match weight K=[15]{{$}}
// CHECK-NOT: module
func.func @f(%x: tensor<4x16xf32>, %w: tensor<8x15xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x15xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
