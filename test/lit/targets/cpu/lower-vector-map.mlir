// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// An elementwise op whose last dim is a multiple of 16 becomes a row loop over 16-lane vectors; erf is
// a polynomial on the vector, not a libm call per element.
// CHECK-LABEL: func.func private @__qc_gelu_0
// CHECK: %[[IN:.*]] = bufferization.to_buffer %arg0 read_only : tensor<4x32xf32> to memref<4x32xf32>
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: vector.load %[[IN]][%[[R]], %[[C]]] : memref<4x32xf32>, vector<16xf32>
// CHECK-NOT: math.erf
// CHECK: math.fma {{.*}} : vector<16xf32>
// CHECK: vector.store {{.*}} : memref<4x32xf32>, vector<16xf32>
// CHECK-NOT: linalg.generic
func.func @gelu(%x: tensor<4x32xf32>) -> tensor<4x32xf32> {
  %y = "qc.gelu"(%x) {approximate = "none"} : (tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// Per-token dynamic quantization: the max|x| row reduction carries a vector accumulator and ends with
// vector.reduction; quantization stores i8 vectors.
// CHECK-LABEL: func.func private @__qc_quantize_dynamic_0
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xf32>)
// CHECK: math.absf {{.*}} : vector<16xf32>
// CHECK: vector.reduction <maximumf>, {{.*}} : vector<16xf32> into f32
// CHECK: math.roundeven {{.*}} : vector<16xf32>
// CHECK: arith.fptosi {{.*}} : vector<16xf32> to vector<16xi8>
// CHECK: vector.store {{.*}} : memref<6x32xi8>, vector<16xi8>
func.func @quantize_dynamic(%x: tensor<2x3x32xf32>) -> (tensor<2x3x32xi8>, tensor<2x3x1xf32>) {
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<2x3x32xf32>) -> (tensor<2x3x32xi8>, tensor<2x3x1xf32>)
  return %q, %s : tensor<2x3x32xi8>, tensor<2x3x1xf32>
}

// -----

// A last dim that is not a multiple of 16 keeps the scalar linalg.generic.
// CHECK-LABEL: func.func private @__qc_silu_0
// CHECK: linalg.generic
// CHECK: math.exp %{{.*}} : f32
func.func @negative_silu_odd_width(%x: tensor<4x20xf32>) -> tensor<4x20xf32> {
  %y = "qc.silu"(%x) : (tensor<4x20xf32>) -> tensor<4x20xf32>
  return %y : tensor<4x20xf32>
}
