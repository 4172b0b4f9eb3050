// Malformed MLIR: one `file:line:col: error:` line at the offending token, non-zero exit, no output.
// RUN: not qcomp-opt %s 2>&1 | filecheck %s
// RUN: not qcomp-opt %s -p qc-quantize -o %t 2>&1 | filecheck %s
// RUN: not qcomp-opt - < %s 2>&1 | filecheck %s --check-prefix=STDIN

// CHECK-NOT: Traceback
// CHECK: {{.*}}parse-error.mlir:[[# @LINE + 5]]:10: error: use of undeclared SSA value name{{$}}
// CHECK-NOT: {{.}}
// STDIN: {{^}}<stdin>:[[# @LINE + 3]]:10: error: use of undeclared SSA value name{{$}}
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %z : tensor<4xf32>
}
