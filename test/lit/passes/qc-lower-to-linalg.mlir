// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg -o %t
// RUN: filecheck %s --input-file %t
// RUN: filecheck %s --input-file %t --check-prefix=NOQC

// No qc op is left in any case (whether the per-signature helpers are inlined or kept outlined).
// NOQC-NOT: "qc.

// qc.qlinear: an i8 x i8 -> i32 reduction (extsi, extsi, muli, addi) then the f32 epilogue
// ((f32(acc) * xs) * ws) + b in one elementwise generic.
// CHECK-LABEL: func.func @qlinear
// CHECK-SAME: (%[[XQ:.*]]: tensor<4x16xi8>, %[[XS:.*]]: tensor<4x1xf32>, %[[WQ:.*]]: tensor<8x16xi8>, %[[WS:.*]]: tensor<8xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK-NOT: qc.
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<4x8xi32>)
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[XQ]], %[[WQ]] : tensor<4x16xi8>, tensor<8x16xi8>) outs(%[[ZERO]] : tensor<4x8xi32>)
// CHECK: ^bb0(%[[A:.*]]: i8, %[[W:.*]]: i8, %[[O:.*]]: i32):
// CHECK-NEXT: %[[AE:.*]] = arith.extsi %[[A]] : i8 to i32
// CHECK-NEXT: %[[WE:.*]] = arith.extsi %[[W]] : i8 to i32
// CHECK-NEXT: %[[P:.*]] = arith.muli %[[AE]], %[[WE]] : i32
// CHECK-NEXT: %[[S:.*]] = arith.addi %[[O]], %[[P]] : i32
// CHECK-NEXT: linalg.yield %[[S]] : i32
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[ACC]], %[[XS]], %[[WS]], %[[B]] : tensor<4x8xi32>, tensor<4x1xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: ^bb0(%[[I:.*]]: i32, %[[XSV:.*]]: f32, %[[WSV:.*]]: f32, %[[BV:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[F:.*]] = arith.sitofp %[[I]] : i32 to f32
// CHECK-NEXT: %[[T:.*]] = arith.mulf %[[F]], %[[XSV]] : f32
// CHECK-NEXT: %[[U:.*]] = arith.mulf %[[T]], %[[WSV]] : f32
// CHECK-NEXT: %[[V:.*]] = arith.addf %[[U]], %[[BV]] : f32
// CHECK-NEXT: linalg.yield %[[V]] : f32
// CHECK: return %[[Y]] : tensor<4x8xf32>
func.func @qlinear(%xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %ws: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A fused relu epilogue ends in maximumf with 0.
// CHECK-LABEL: func.func @qlinear_relu
// CHECK-DAG: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: arith.extsi
// CHECK: arith.muli
// CHECK: arith.sitofp
// CHECK: %[[V:.*]] = arith.addf
// CHECK-NEXT: %[[R:.*]] = arith.maximumf %[[V]], %[[Z]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
func.func @qlinear_relu(%xq: tensor<1x4xi8>, %xs: tensor<1xf32>, %wq: tensor<2x4xi8>, %ws: tensor<2xf32>, %b: tensor<2xf32>) -> tensor<1x2xf32> {
  %y = "qc.qlinear"(%xq, %xs, %wq, %ws, %b) {act = "relu"} : (tensor<1x4xi8>, tensor<1xf32>, tensor<2x4xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// qc.quantize: multiply by the f32 inverse scale, round half to even, clamp to [-127, 127], NaN to 0, to i8.
// CHECK-LABEL: func.func @quantize
// CHECK-DAG: %[[HI:.*]] = arith.constant 1.270000e+02 : f32
// CHECK-DAG: %[[LO:.*]] = arith.constant -1.270000e+02 : f32
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NOT: qc.quantize
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.*]]: f32, %[[S:.*]]: f32, %{{.*}}: i8):
// CHECK-NEXT: %[[INV:.*]] = arith.divf %[[ONE]], %[[S]] : f32
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[X]], %[[INV]] : f32
// CHECK-NEXT: %[[R:.*]] = math.roundeven %[[M]] : f32
// CHECK-NEXT: %[[A:.*]] = arith.maximumf %[[R]], %[[LO]] : f32
// CHECK-NEXT: %[[C:.*]] = arith.minimumf %[[A]], %[[HI]] : f32
// CHECK-NEXT: %[[NAN:.*]] = arith.cmpf uno, %[[C]], %[[C]] : f32
// CHECK-NEXT: %[[Z:.*]] = arith.select %[[NAN]], %{{.*}}, %[[C]] : f32
// CHECK-NEXT: %[[Q:.*]] = arith.fptosi %[[Z]] : f32 to i8
// CHECK-NEXT: linalg.yield %[[Q]] : i8
func.func @quantize(%x: tensor<4x12xf32>, %s: tensor<1xf32>) -> tensor<4x12xi8> {
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x12xf32>, tensor<1xf32>) -> tensor<4x12xi8>
  return %q : tensor<4x12xi8>
}

// -----

// Two quantized layers in a row (quantize_dynamic -> qlinear, as qc-quantize emits them) lower
// completely: dynamic quantization (absmax, roundeven, scale reshaped to [M, 1]) and integer GEMM.
// CHECK-LABEL: func.func @quantized_layer
// CHECK-DAG: math.absf
// CHECK-DAG: math.roundeven
// CHECK-DAG: tensor.expand_shape %{{.*}} {{\[}}[0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
// CHECK-DAG: arith.muli
func.func @quantized_layer(%x: tensor<4x2xf32>) -> (tensor<4x2xf32>, tensor<4x2xf32>) {
  %wq = arith.constant dense<[[127, -50], [0, 1]]> : tensor<2x2xi8>
  %ws = arith.constant dense<[0.01, 1.0]> : tensor<2xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x2xf32>) -> (tensor<4x2xi8>, tensor<4x1xf32>)
  %y = "qc.qlinear"(%q, %s, %wq, %ws, %b) {act = "none"} : (tensor<4x2xi8>, tensor<4x1xf32>, tensor<2x2xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %q2, %s2 = "qc.quantize_dynamic"(%y) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x2xf32>) -> (tensor<4x2xi8>, tensor<4x1xf32>)
  %z = "qc.qlinear"(%q2, %s2, %wq, %ws, %b) {act = "none"} : (tensor<4x2xi8>, tensor<4x1xf32>, tensor<2x2xi8>, tensor<2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y, %z : tensor<4x2xf32>, tensor<4x2xf32>
}

// -----

// Host code around qc ops (here an arith op on tensors) is kept; only qc ops are rewritten.
// CHECK-LABEL: func.func @mixed_host_code
// CHECK-DAG: arith.maximumf
// CHECK-DAG: %{{.*}} = arith.addf %[[R:.*]], %[[R]] : tensor<4xf32>
func.func @mixed_host_code(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %s = arith.addf %r, %r : tensor<4xf32>
  return %s : tensor<4xf32>
}

// -----

// Without qc ops the pass does nothing at all: not even the cleanup pipeline runs (the foldable
// constant add survives).
// CHECK-LABEL: func.func @negative_no_qc_ops
// CHECK: %[[C:.*]] = arith.constant 1 : i32
// CHECK: %[[S:.*]] = arith.addi %[[C]], %[[C]] : i32
// CHECK: return %[[S]]
func.func @negative_no_qc_ops() -> i32 {
  %c = arith.constant 1 : i32
  %s = arith.addi %c, %c : i32
  return %s : i32
}
