// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// A zero point per output channel and group, like the scales: K = 10 in groups of 4 needs zp [N, 3].
func.func @zp_shape(%x: tensor<4x10xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x10xi8>, %ws: tensor<8x3xf32>, %zp: tensor<8x2xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.qlinear_grouped_asym' op zp must be [8, 3] like ws, got [8, 2]}}
  %y = "qc.qlinear_grouped_asym"(%x, %xs, %wq, %ws, %zp, %b) {act = "none", bits = 4 : i64, group = 4 : i64} : (tensor<4x10xi8>, tensor<4x1xf32>, tensor<8x10xi8>, tensor<8x3xf32>, tensor<8x2xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Zero points are unsigned bytes (i8 bit patterns), not floats.
func.func @zp_float(%x: tensor<4x8xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x8xi8>, %ws: tensor<8x2xf32>, %zp: tensor<8x2xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{xq, wq and zp must be i8}}
  %y = "qc.qlinear_grouped_asym"(%x, %xs, %wq, %ws, %zp, %b) {act = "none", bits = 4 : i64, group = 4 : i64} : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x8xi8>, tensor<8x2xf32>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A group size of 0 names no groups.
func.func @group_0(%x: tensor<4x8xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x8xi8>, %ws: tensor<8x1xf32>, %zp: tensor<8x1xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'group' must be positive, got 0}}
  %y = "qc.qlinear_grouped_asym"(%x, %xs, %wq, %ws, %zp, %b) {act = "none", bits = 4 : i64, group = 0 : i64} : (tensor<4x8xi8>, tensor<4x1xf32>, tensor<8x8xi8>, tensor<8x1xf32>, tensor<8x1xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
