// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// NVFP4 weights: K = 64 as e2m1 codes two per byte (wq [N, 32]), one f32 scale per block of 16 (scale [N, 4]).
// CHECK-LABEL: func.func @nvfp4_weights
// CHECK: "qc.fp_wlinear"({{.*}}) {format = "nvfp4", group = 16 : i64} : (tensor<2x64xf32>, tensor<8x32xi8>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<2x8xf32>
func.func @nvfp4_weights(%x: tensor<2x64xf32>, %wq: tensor<8x32xi8>, %s: tensor<8x4xf32>, %b: tensor<8xf32>) -> tensor<2x8xf32> {
  %y = "qc.fp_wlinear"(%x, %wq, %s, %b) {format = "nvfp4", group = 16 : i64} : (tensor<2x64xf32>, tensor<8x32xi8>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// FP8 W8A8: activations fake-quantized per token to e4m3, e4m3 weights one byte each with a scale per channel.
// CHECK-LABEL: func.func @fp8_w8a8
// CHECK: %[[A:.*]] = "qc.fp_fake_quant"(%{{.*}}) {format = "fp8"} : (tensor<3x16xf32>) -> tensor<3x16xf32>
// CHECK: "qc.fp_wlinear"(%[[A]], {{.*}}) {format = "fp8", group = 16 : i64}
func.func @fp8_w8a8(%x: tensor<3x16xf32>, %wq: tensor<4x16xi8>, %s: tensor<4x1xf32>, %b: tensor<4xf32>) -> tensor<3x4xf32> {
  %a = "qc.fp_fake_quant"(%x) {format = "fp8"} : (tensor<3x16xf32>) -> tensor<3x16xf32>
  %y = "qc.fp_wlinear"(%a, %wq, %s, %b) {format = "fp8", group = 16 : i64} : (tensor<3x16xf32>, tensor<4x16xi8>, tensor<4x1xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// A static per-tensor activation scale (fp8-static) and the generic format text.
// CHECK-LABEL: func.func @static_and_generic
// CHECK: "qc.fp_fake_quant_static"(%{{.*}}, %{{.*}}) {format = "e5m2:f32:tensor"}
// CHECK: "qc.fp_fake_quant"(%{{.*}}) {format = "e2m1:e8m0:32"}
func.func @static_and_generic(%x: tensor<2x64xf32>, %s: tensor<1xf32>) -> tensor<2x64xf32> {
  %a = "qc.fp_fake_quant_static"(%x, %s) {format = "e5m2:f32:tensor"} : (tensor<2x64xf32>, tensor<1xf32>) -> tensor<2x64xf32>
  %y = "qc.fp_fake_quant"(%a) {format = "e2m1:e8m0:32"} : (tensor<2x64xf32>) -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}
