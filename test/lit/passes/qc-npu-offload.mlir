// RUN: qcomp-opt %s --split-input-file -p qc-npu-offload | filecheck %s

// A qc.qlinear (act none) of @main becomes a call of an external function on buffers; the call keeps
// the op's name and attributes, and the partition is recorded on the module.
// CHECK: module attributes {qc.npu_partition = {host = {}, npu = 1 : i64}}
// CHECK: func.func private @npu_0(memref<4x16xi8>, memref<4x1xf32>, memref<8x16xi8>, memref<8xf32>, memref<8xf32>, memref<4x8xf32>)
// CHECK-LABEL: func.func @main
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
// CHECK: call @npu_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[OUT]]) {qc.attrs = {act = "none"}, qc.offload = "qc.qlinear"}
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict
// CHECK-NOT: "qc.qlinear"
// CHECK: return %[[Y]]
func.func @main(%x: tensor<4x16xi8>, %xs: tensor<4x1xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<3> : tensor<8x16xi8>
  %ws = arith.constant dense<0.5> : tensor<8xf32>
  %b = arith.constant dense<1.0> : tensor<8xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// relu is exact on the vector unit: offloaded too.
// CHECK-LABEL: func.func @main
// CHECK: call @npu_0({{.*}}) {qc.attrs = {act = "relu"}, qc.offload = "qc.qlinear"}
func.func @main(%x: tensor<4x16xi8>, %xs: tensor<1xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<3> : tensor<8x16xi8>
  %ws = arith.constant dense<0.5> : tensor<8xf32>
  %b = arith.constant dense<1.0> : tensor<8xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "relu"} : (tensor<4x16xi8>, tensor<1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// GELU in the epilogue stays on the host (the CPU computes it; the NPU would not match it bit for bit),
// and so do the float ops; the partition counts them.
// CHECK: module attributes {qc.npu_partition = {host = {qc.gelu = 1 : i64, qc.qlinear = 1 : i64}, npu = 0 : i64}}
// CHECK-LABEL: func.func @main
// CHECK-NOT: call @npu
// CHECK: "qc.qlinear"({{.*}}) {act = "gelu"}
// CHECK: "qc.gelu"
func.func @main(%x: tensor<4x16xi8>, %xs: tensor<4x1xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<3> : tensor<8x16xi8>
  %ws = arith.constant dense<0.5> : tensor<8xf32>
  %b = arith.constant dense<1.0> : tensor<8xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "gelu"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %z = "qc.gelu"(%y) {approximate = "none"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %z : tensor<4x8xf32>
}

// -----

// @negative_not_main: only @main is partitioned (other functions are left alone).
// CHECK-LABEL: func.func @negative_not_main
// CHECK: "qc.qlinear"
// CHECK-NOT: call @npu
func.func @negative_not_main(%x: tensor<4x16xi8>, %xs: tensor<4x1xf32>) -> tensor<4x8xf32> {
  %w = arith.constant dense<3> : tensor<8x16xi8>
  %ws = arith.constant dense<0.5> : tensor<8xf32>
  %b = arith.constant dense<1.0> : tensor<8xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
