// qc-quantize-float: linear layers to float formats (the fp8, mxfp4, nvfp4 ... recipes).
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize-float{wformat=fp8,aformat=fp8}' | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize-float{wformat=nvfp4}' | filecheck %s --check-prefix=NV
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize{wformat=nvfp4}' | filecheck %s --check-prefix=NV
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize-float{wformat=fp8,keep_last=true}' | filecheck %s --check-prefix=KEEP

// fp8 W8A8: e4m3 weights per output channel (scale max|w| / 448; codes as torch.float8_e4m3fn casts them:
// 4/s = 448 -> 0x7E, -1.5/s = -168 -> tie between 160 and 176 -> 160 = 0xF2 = -14), activations fake-quantized
// per token. nvfp4 weight-only: two e2m1 codes per byte, a scale per block of 16 (K = 4: one partial block),
// stored as its e4m3 code with the f32 tensor scale ts = 4 / (6 * 448) = 0.00148809527 as an attribute:
// row 0: (4 / 6) / ts = 448 -> 0x7E = 126; row 1: (0.75 / 6) / ts = 84, a tie between 80 and 88 -> 80 = 0x6A = 106.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[WQ:.*]] = arith.constant dense<{{\[}}[126, -14, 102, 122], [-2, 103, 111, 115]]> : tensor<2x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<{{\[}}[0.00892857183], [0.00167410716]]> : tensor<2x1xf32>
// CHECK-DAG: %[[A:.*]] = "qc.fp_fake_quant"(%arg0) {format = "fp8", qc.precision = "fp8"} : (tensor<3x4xf32>) -> tensor<3x4xf32>
// CHECK: "qc.fp_wlinear"(%[[A]], %[[WQ]], %[[WS]], %{{.*}}) {format = "fp8", group = 4 : i64, qc.precision = "fp8-w8a8"}
// NV-LABEL: func.func @linear
// NV-NOT: qc.fp_fake_quant
// NV: %[[NS:.*]] = arith.constant dense<{{\[}}[126], [106]]> : tensor<2x1xi8>
// NV: "qc.fp_wlinear"(%arg0, %{{.*}}, %[[NS]], %{{.*}}) {format = "nvfp4", group = 16 : i64, qc.precision = "nvfp4-w4a16", tensor_scale = 0.00148809527 : f32} : (tensor<3x4xf32>, tensor<2x2xi8>, tensor<2x1xi8>, tensor<2xf32>) -> tensor<3x2xf32>
func.func @linear(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[4.0, -1.5, 0.5, 3.0], [-0.75, 0.1, 0.2, 0.3]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A layer kept in float (mixed precision, split outliers) and a non-constant weight are left alone.
// CHECK-LABEL: func.func @negative_kept_float
// CHECK-NOT: qc.fp_wlinear
// CHECK: "qc.linear"({{.*}}) {qc.precision = "fp32"}
// CHECK: "qc.linear"
func.func @negative_kept_float(%x: tensor<3x4xf32>, %w2: tensor<2x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.precision = "fp32"} : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %z = "qc.linear"(%x, %w2, %b) : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  %r = "qc.add"(%y, %z) : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
  return %r : tensor<3x2xf32>
}

// -----

// keep_last: the last linear layer (an LM head) stays f32, the others are quantized.
// KEEP-LABEL: func.func @keep_last
// KEEP: "qc.fp_wlinear"
// KEEP: "qc.linear"
// KEEP-NOT: qc.fp_wlinear
func.func @keep_last(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<1.0> : tensor<4x4xf32>
  %b = arith.constant dense<0.0> : tensor<4xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  %z = "qc.linear"(%y, %w, %b) : (tensor<3x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<3x4xf32>
  return %z : tensor<3x4xf32>
}
