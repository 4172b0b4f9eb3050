// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// At 4 bits the weight is packed two per byte: K = 16 needs wq [N, 8], not [N, 16].
func.func @unpacked_int4(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'qc.wlinear' op wq must be [N, 8] for K = 16 at 4 bits, got [8, 16]}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 4 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The scale has one column per group: K = 16 in groups of 4 is [N, 4].
func.func @wrong_group_count(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x2xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{scale must be [8, 4] (groups of 4), got [8, 2]}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64, group = 4 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The group size must be positive.
func.func @zero_group(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'group' must be positive, got 0}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64, group = 0 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The activation stays float: an i8 x belongs to qc.qlinear.
func.func @int_x(%x: tensor<4x16xi8>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{operand 'x' must have a float element type}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xi8>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Bits outside [2, 8].
func.func @bits_16(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'bits' must be in [2, 8], got 16}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 16 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The result has the input's leading dims and N columns.
func.func @wrong_result(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x16xf32> {
  // expected-error @+1 {{result shape [4, 16] must be [4, 8]}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}

// -----

// A missing attribute is a diagnostic, not a Python exception.
func.func @missing_group(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{requires attribute 'group'}}
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
