// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// An unknown format name is reported with the accepted forms.
func.func @unknown_format(%x: tensor<2x16xf32>, %wq: tensor<4x16xi8>, %s: tensor<4x1xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'qc.fp_wlinear' op bad 'format': number format: 'fp9' is not a format}}
  %y = "qc.fp_wlinear"(%x, %wq, %s, %b) {format = "fp9", group = 16 : i64} : (tensor<2x16xf32>, tensor<4x16xi8>, tensor<4x1xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// 4-bit codes are packed two per byte: K = 16 needs wq [N, 8].
func.func @unpacked_fp4(%x: tensor<2x16xf32>, %wq: tensor<4x16xi8>, %s: tensor<4x1xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{wq must be [N, 8] for K = 16 in fp4, got [4, 16]}}
  %y = "qc.fp_wlinear"(%x, %wq, %s, %b) {format = "fp4", group = 16 : i64} : (tensor<2x16xf32>, tensor<4x16xi8>, tensor<4x1xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// An MX format's group is its block (32).
func.func @mx_group_mismatch(%x: tensor<2x64xf32>, %wq: tensor<4x32xi8>, %s: tensor<4x4xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'group' 16 must equal the block of mxfp4 (32)}}
  %y = "qc.fp_wlinear"(%x, %wq, %s, %b) {format = "mxfp4", group = 16 : i64} : (tensor<2x64xf32>, tensor<4x32xi8>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A static scale is one f32 per tensor: MX's power-of-two block scales cannot be static.
func.func @static_mx(%x: tensor<2x64xf32>, %s: tensor<1xf32>) -> tensor<2x64xf32> {
  // expected-error @+1 {{a static scale needs a format with f32 scales, got mxfp4}}
  %y = "qc.fp_fake_quant_static"(%x, %s) {format = "mxfp4"} : (tensor<2x64xf32>, tensor<1xf32>) -> tensor<2x64xf32>
  return %y : tensor<2x64xf32>
}
