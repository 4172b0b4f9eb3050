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

// -----

// ops=all: a per-token qc.quantize_dynamic runs on the GPU with its two results (q, scale) written to two
// out-buffers (qc.results = 2); the norm feeding it too. A per-tensor one stays on the host.
// RUN: qcomp-opt %s --split-input-file -p "qc-gpu-offload{ops=all}" | filecheck %s --check-prefix=ALL
// ALL-LABEL: func.func private @gpu_1(memref<4x64xf32>, memref<4x64xi8>, memref<4x1xf32>)
// ALL-LABEL: func.func private @gpu_0(memref<4x64xf32>, memref<64xf32>, memref<4x64xf32>)
// ALL-LABEL: func.func @main
// ALL: call @gpu_0({{.*}}) {qc.attrs = {eps = {{.*}}}, qc.offload = "qc.rms_norm"}
// ALL: %[[Q:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x64xi8>
// ALL: %[[S:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x1xf32>
// ALL: call @gpu_1(%{{.*}}, %[[Q]], %[[S]]) {qc.attrs = {bits = 8 : i64, granularity = "per_token"}, qc.offload = "qc.quantize_dynamic", qc.results = 2 : i64}
// ALL: "qc.quantize_dynamic"({{.*}}) {bits = 8 : i64, granularity = "per_tensor"}
func.func @main(%x: tensor<4x64xf32>, %g: tensor<64xf32>) -> (tensor<4x64xi8>, tensor<4x1xf32>, tensor<4x64xi8>, tensor<1xf32>) {
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-06 : f64} : (tensor<4x64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  %q:2 = "qc.quantize_dynamic"(%n) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x64xf32>) -> (tensor<4x64xi8>, tensor<4x1xf32>)
  %p:2 = "qc.quantize_dynamic"(%n) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<4x64xf32>) -> (tensor<4x64xi8>, tensor<1xf32>)
  return %q#0, %q#1, %p#0, %p#1 : tensor<4x64xi8>, tensor<4x1xf32>, tensor<4x64xi8>, tensor<1xf32>
}
