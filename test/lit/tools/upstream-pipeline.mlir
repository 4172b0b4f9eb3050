// Upstream MLIR passes run by name, alone, nested under func.func, or mixed with qc passes.
// RUN: qcomp-opt %s -p 'canonicalize,cse' | filecheck %s
// RUN: qcomp-opt %s -p 'func.func(cse)' | filecheck %s
// RUN: qcomp-opt %s | filecheck %s --check-prefix=NONE
// RUN: qcomp-opt %s -p 'qc-quantize,canonicalize,cse' | filecheck %s --check-prefix=MIXED
// RUN: qcomp-opt %s -p 'qc-quantize,canonicalize,qc-lower-to-linalg,func.func(cse)' | filecheck %s --check-prefix=FULL

// Two equal weights and two equal (Pure) qc.linear ops: cse merges both pairs.
// CHECK-LABEL: func.func @f
// CHECK-SAME: (%[[X:.*]]: tensor<4x2xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [3.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-NOT: arith.constant dense<{{\[}}[1.0
// CHECK: %[[Y:.*]] = "qc.linear"(%[[X]], %[[W]], %{{.*}})
// CHECK-NOT: "qc.linear"
// CHECK: return %[[Y]], %[[Y]]

// With no pipeline the IR is only parsed and printed.
// NONE-LABEL: func.func @f
// NONE-COUNT-2: "qc.linear"
// NONE: return %{{.*}}, %{{.*}} : tensor<4x2xf32>, tensor<4x2xf32>

// qc-quantize leaves the f32 weights dead and duplicates the activation quantization;
// canonicalize and cse clean both up.
// MIXED-LABEL: func.func @f
// MIXED-NOT: tensor<2x2xf32>
// MIXED: "qc.quantize_dynamic"
// MIXED-NOT: "qc.quantize_dynamic"
// MIXED: %[[Y:.*]] = "qc.qlinear"
// MIXED-NOT: "qc.qlinear"
// MIXED: return %[[Y]], %[[Y]]

// The full CPU pipeline leaves no qc op.
// FULL-LABEL: func.func @f
// FULL-NOT: qc.
// FULL: arith.muli
// FULL-NOT: qc.
// FULL: return
func.func @f(%x: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %w2 = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %z = "qc.linear"(%x, %w2, %b) : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y, %z : tensor<4x2xf32>, tensor<4x2xf32>
}
