// --timing prints one row per pass (ms, share of the total, name) and a total row to stderr,
// once per input chunk.
// RUN: qcomp-opt %s --split-input-file -p 'qc-quantize,canonicalize,qc-lower-to-linalg' --timing -o %t 2>&1 | filecheck %s

// CHECK: ===-- pass timing --===
// CHECK-NEXT: {{^ +[0-9]+\.[0-9]{2} ms +[0-9]+\.[0-9]% +qc-quantize$}}
// CHECK-NEXT: {{^ +[0-9]+\.[0-9]{2} ms +[0-9]+\.[0-9]% +canonicalize$}}
// CHECK-NEXT: {{^ +[0-9]+\.[0-9]{2} ms +[0-9]+\.[0-9]% +qc-lower-to-linalg$}}
// CHECK-NEXT: {{^ +[0-9]+\.[0-9]{2} ms +100\.0% +total$}}
// CHECK: ===-- pass timing --===
// CHECK-COUNT-3: {{ ms }}
// CHECK-NEXT: {{ +100\.0% +total$}}
// CHECK-NOT: pass timing
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

func.func @g(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
