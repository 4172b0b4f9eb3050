// --verify-diagnostics fails (non-zero) on an expected error that is not produced and on an error
// that no annotation expects, naming the file and line of each.
// RUN: not qcomp-opt %s --split-input-file --verify-diagnostics 2>&1 | filecheck %s

// An annotation whose text does not match the produced error counts twice: expected-but-missing
// and unexpected.
// CHECK: verify-diagnostics-mismatch.mlir:[[# @LINE + 4]]: error: expected error "operand 'x' must be i32" was not produced
// CHECK: verify-diagnostics-mismatch.mlir:[[# @LINE + 3]]: error: unexpected error: 'qc.relu' op result shape must equal the input shape
func.func @wrong_text(%x: tensor<4xf32>) -> tensor<5xf32> {
  // expected-error @+1 {{operand 'x' must be i32}}
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32>
  return %y : tensor<5xf32>
}

// -----

// An annotation on a valid op.
// CHECK: verify-diagnostics-mismatch.mlir:[[# @LINE + 3]]: error: expected error "result shape" was not produced
func.func @no_error(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{result shape}}
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// An error without annotation.
// CHECK: verify-diagnostics-mismatch.mlir:[[# @LINE + 2]]: error: unexpected error: 'qc.softmax' op only the last axis is supported, got axis 0
func.func @unannotated(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = "qc.softmax"(%x) {axis = 0 : i64} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
// CHECK-NOT: error
