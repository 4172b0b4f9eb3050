// RUN: not %python -m qcomp.targets.npu.dump %s --preset tpu-like --scratchpad-kib 64 2>&1 | filecheck %s

// A 256x256 weight-stationary array needs two 64 KiB weight tiles: a 64 KiB scratchpad cannot hold even
// the smallest tiling, and the layer is rejected at compile time with one line naming the op.
// CHECK: npu-dump: error: loc("{{.*}}":[[# @LINE + 6]]:8): npu: qc.qlinear [M=16, K=512, N=512] does not fit the tpu-like scratchpad (65536 B): its smallest tiling
// CHECK-NOT: Traceback
func.func @main(%x: tensor<16x512xi8>, %xs: tensor<16x1xf32>) -> tensor<16x512xf32> {
  %w = arith.constant dense<3> : tensor<512x512xi8>
  %ws = arith.constant dense<0.5> : tensor<512xf32>
  %b = arith.constant dense<1.0> : tensor<512xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none"} : (tensor<16x512xi8>, tensor<16x1xf32>, tensor<512x512xi8>, tensor<512xf32>, tensor<512xf32>) -> tensor<16x512xf32>
  return %y : tensor<16x512xf32>
}
