// --print-ir-after-all prints the IR after every pass of the pipeline (ours and upstream, one
// dump per pass, in order) to stderr, eliding large constants; the result still goes to -o/stdout.
// RUN: qcomp-opt %s -p 'qc-quantize,canonicalize,cse' --print-ir-after-all -o %t 2>&1 | filecheck %s
// RUN: filecheck %s --input-file %t --check-prefix=OUT

// After qc-quantize the f32 weight is still there (unused) next to the new int8 one; the 32-element
// constants are elided in the dump.
// CHECK: // -----// IR Dump After qc-quantize //----- //
// CHECK: arith.constant dense_resource<__elided__> : tensor<4x8xf32>
// CHECK: "qc.quantize_dynamic"
// CHECK: arith.constant dense_resource<__elided__> : tensor<4x8xi8>
// CHECK: "qc.qlinear"
// canonicalize then drops the dead f32 weight.
// CHECK: // -----// IR Dump After canonicalize //----- //
// CHECK-NOT: tensor<4x8xf32>
// CHECK: "qc.qlinear"
// CHECK: // -----// IR Dump After cse //----- //
// CHECK: "qc.qlinear"
// CHECK-NOT: IR Dump After

// The output file has the final IR with the full int8 weight.
// OUT-NOT: IR Dump
// OUT: arith.constant dense<{{\[}}[16, 32, 48, 64, 79, 95, 111, 127], [16, 32, 48, 64, 79, 95, 111, 127], [-16, -32, -48, -64, -79, -95, -111, -127], [0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<4x8xi8>
// OUT: "qc.qlinear"
func.func @f(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  %b = arith.constant dense<0.0> : tensor<4xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
