// --split-input-file: each `// -----` chunk is parsed and transformed on its own (so both chunks
// may define @f), the outputs are joined by `// -----` lines, and an error in one chunk is
// reported with its line in the whole file while the other chunks are still processed.
// RUN: not qcomp-opt %s --split-input-file -p canonicalize 2>&1 | filecheck %s
// Without the option the file is one module: the bad op fails it whole and nothing is printed.
// RUN: not qcomp-opt %s 2>&1 | filecheck %s --check-prefix=WHOLE

// CHECK: split-input-file.mlir:[[# @LINE + 23]]:8: error: 'qc.relu' op result shape must equal the input shape
// CHECK: module {
// CHECK: func.func @f(%arg0: tensor<4xf32>) -> tensor<4xf32>
// CHECK: {{^}}// -----{{$}}
// CHECK: func.func @f(%arg0: tensor<8xf32>) -> tensor<8xf32>
// CHECK-NOT: @g
// WHOLE: split-input-file.mlir:[[# @LINE + 17]]:8: error: 'qc.relu' op result shape must equal the input shape
// WHOLE-NOT: module
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @f(%x: tensor<8xf32>) -> tensor<8xf32> {
  %y = "qc.relu"(%x) : (tensor<8xf32>) -> tensor<8xf32>
  return %y : tensor<8xf32>
}

// -----

func.func @g(%x: tensor<8xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<8xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
