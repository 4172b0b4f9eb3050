// RUN: qcomp-opt %s --split-input-file -p qc-gpu-offload | filecheck %s

// A qc.qlinear with static shapes and a fusable activation becomes a call of an external function on
// buffers; the call keeps the op's name and attributes, the weights stay constants feeding it.
// CHECK-LABEL: func.func private @gpu_0(memref<4x64xi8>, memref<4x1xf32>, memref<32x64xi8>, memref<32xf32>, memref<32xf32>, memref<4x32xf32>)
// CHECK-LABEL: func.func @main
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x32xf32>
// CHECK: call @gpu_0({{.*}}, %[[OUT]]) {qc.attrs = {act = "relu"}, qc.offload = "qc.qlinear"}
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict
// CHECK-NOT: "qc.qlinear"
// CHECK: return %[[Y]]
func.func @main(%xq: tensor<4x64xi8>, %xs: tensor<4x1xf32>) -> tensor<4x32xf32> {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<32xf32>
  %b = arith.constant dense<0.25> : tensor<32xf32>
  %y = "qc.qlinear"(%xq, %xs, %w, %ws, %b) {act = "relu"} : (tensor<4x64xi8>, tensor<4x1xf32>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// GELU is not fused on the GPU (it stays on the host, where the CPU target computes it): no offload.
// CHECK-LABEL: func.func @main
// CHECK-NOT: call @gpu_
// CHECK: "qc.qlinear"
func.func @main(%xq: tensor<4x64xi8>, %xs: tensor<4x1xf32>) -> tensor<4x32xf32> {
  %w = arith.constant dense<3> : tensor<32x64xi8>
  %ws = arith.constant dense<0.5> : tensor<32xf32>
  %b = arith.constant dense<0.25> : tensor<32xf32>
  %y = "qc.qlinear"(%xq, %xs, %w, %ws, %b) {act = "gelu"} : (tensor<4x64xi8>, tensor<4x1xf32>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// Float ops are host ops: a qc.linear is left alone.
// CHECK-LABEL: func.func @main
// CHECK-NOT: call @gpu_
// CHECK: "qc.linear"
func.func @main(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A weight-only qc.wlinear (int4 weights packed two per byte, grouped scales) runs on the GPU too.
// CHECK-LABEL: func.func private @gpu_0(memref<2x64xf32>, memref<16x32xi8>, memref<16x2xf32>, memref<16xf32>, memref<2x16xf32>)
// CHECK-LABEL: func.func @main
// CHECK: call @gpu_0({{.*}}) {qc.attrs = {bits = 4 : i64, group = 32 : i64}, qc.offload = "qc.wlinear"}
// CHECK-NOT: "qc.wlinear"
func.func @main(%x: tensor<2x64xf32>) -> tensor<2x16xf32> {
  %w = arith.constant dense<17> : tensor<16x32xi8>
  %s = arith.constant dense<0.5> : tensor<16x2xf32>
  %b = arith.constant dense<0.25> : tensor<16xf32>
  %y = "qc.wlinear"(%x, %w, %s, %b) {bits = 4 : i64, group = 32 : i64} : (tensor<2x64xf32>, tensor<16x32xi8>, tensor<16x2xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}
