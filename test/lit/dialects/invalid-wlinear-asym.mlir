// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// One zero point per scale: K = 16 in groups of 4 needs zp [N, 4] like the scale.
func.func @zp_shape(%x: tensor<4x16xf32>, %wq: tensor<8x8xi8>, %s: tensor<8x4xf32>, %z: tensor<8x2xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.wlinear_asym' op zp must be [8, 4] like scale, got [8, 2]}}
  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {bits = 4 : i64, group = 4 : i64} : (tensor<4x16xf32>, tensor<8x8xi8>, tensor<8x4xf32>, tensor<8x2xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Zero points are integer codes, not floats.
func.func @float_zp(%x: tensor<4x16xf32>, %wq: tensor<8x8xi8>, %s: tensor<8x1xf32>, %z: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{zp must be i8}}
  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {bits = 4 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// At 4 bits the codes are packed two per byte: K = 16 needs wq [N, 8].
func.func @unpacked_int4(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %z: tensor<8x1xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{wq must be [N, 8] for K = 16 at 4 bits, got [8, 16]}}
  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {bits = 4 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8x1xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Bits outside [2, 8].
func.func @bits_1(%x: tensor<4x16xf32>, %wq: tensor<8x8xi8>, %s: tensor<8x1xf32>, %z: tensor<8x1xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'bits' must be in [2, 8], got 1}}
  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {bits = 1 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8x1xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
