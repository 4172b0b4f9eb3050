// --verify-diagnostics accepts every annotation form mlir-opt does: on the same line, @+N, @-N,
// @above and @below; line numbers stay file-relative across `// -----` chunks.
// RUN: qcomp-opt %s --split-input-file --verify-diagnostics

// Same line.
func.func @same_line(%x: tensor<4xf32>) -> tensor<5xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32> // expected-error {{result shape must equal the input shape}}
  return %y : tensor<5xf32>
}

// -----

// @+2 skips a line.
func.func @plus_two(%x: tensor<4xf32>) -> tensor<5xf32> {
  // expected-error @+2 {{'qc.silu' op result shape must equal the input shape}}
  %r = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %y = "qc.silu"(%r) : (tensor<4xf32>) -> tensor<5xf32>
  return %y : tensor<5xf32>
}

// -----

// @below is the next line.
func.func @below(%x: tensor<4xf32>) -> tensor<5xf32> {
  // expected-error @below {{'qc.relu' op result shape must equal the input shape}}
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<5xf32>
  return %y : tensor<5xf32>
}

// -----

// @above is the previous line.
func.func @above(%x: tensor<4xi8>) -> tensor<4xi8> {
  %y = "qc.silu"(%x) : (tensor<4xi8>) -> tensor<4xi8>
  // expected-error @above {{operand 'x' must have a float element type}}
  return %y : tensor<4xi8>
}

// -----

// @-2 counts back.
func.func @minus_two(%x: tensor<4xi8>) -> tensor<4xi8> {
  %y = "qc.relu"(%x) : (tensor<4xi8>) -> tensor<4xi8>
  return %y : tensor<4xi8>
  // expected-error @-2 {{'qc.relu' op operand 'x' must have a float element type}}
}

// -----

// A chunk without errors and without annotations passes.
func.func @fine(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
