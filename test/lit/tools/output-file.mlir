// -o writes the result to a file and nothing to stdout; `-o -` (the default) is stdout.
// RUN: qcomp-opt %s -p canonicalize -o %t > %t.stdout
// RUN: filecheck %s --input-file %t
// RUN: %python -c "import os, sys; sys.exit(os.path.getsize(sys.argv[1]))" %t.stdout
// RUN: qcomp-opt %s -p canonicalize -o - | filecheck %s

// canonicalize folds the constant add and keeps the qc op.
// CHECK-LABEL: func.func @f
// CHECK: %[[C:.*]] = arith.constant 2 : i32
// CHECK: %[[Y:.*]] = "qc.relu"
// CHECK: return %[[Y]], %[[C]]
func.func @f(%x: tensor<4xf32>) -> (tensor<4xf32>, i32) {
  %c = arith.constant 1 : i32
  %s = arith.addi %c, %c : i32
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y, %s : tensor<4xf32>, i32
}
