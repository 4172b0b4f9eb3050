// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// Dynamic rows: the GEMM kernel counts rows at run time (B·T from the input's dims), allocates its result
// with that count and runs whole row tiles, then the remaining rows one at a time.
// CHECK-LABEL: func.func private @__qc_linear_0_packed
// CHECK-DAG: %[[D0:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x?x16xf32>
// CHECK-DAG: %[[D1:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x?x16xf32>
// CHECK: %[[M:.*]] = arith.muli %[[D0]], %[[D1]] : index
// CHECK: %[[TILES:.*]] = arith.divui %[[M]], %[[MR:.*]] : index
// CHECK: %[[FULL:.*]] = arith.muli %[[TILES]], %[[MR]] : index
// CHECK: memref.alloc(%[[M]]) {{.*}} : memref<?x16xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[FULL]] step %[[MR]]
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[M]] step
// CHECK: tensor.expand_shape {{.*}} output_shape [%[[D0]], %[[D1]], 16] : tensor<?x16xf32> into tensor<?x?x16xf32>
func.func @linear_rows(%x: tensor<?x?x16xf32>, %w: tensor<16x16xf32>, %b: tensor<16xf32>) -> tensor<?x?x16xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

// A row-wise map over dynamic rows: one vector loop whose bound is the product of the leading dims.
// CHECK-LABEL: func.func private @__qc_gelu_0
// CHECK: %[[M:.*]] = arith.muli
// CHECK: memref.alloc(%[[M]]) {{.*}} : memref<?x32xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[M]] step
func.func @gelu_rows(%x: tensor<?x?x32xf32>) -> tensor<?x?x32xf32> {
  %y = "qc.gelu"(%x) {approximate = "none"} : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}
