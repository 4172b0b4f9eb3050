// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// qc.linear: a zero-filled [M, N] accumulator, a (parallel, parallel, reduction) generic reading
// x[m, k] and w[n, k] (the weight is not transposed), then a bias add broadcast along N.
// CHECK-DAG: #[[XMAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[WMAP:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[YMAP:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[BMAP:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x8xf32>)
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[XMAP]], #[[WMAP]], #[[YMAP]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[W]] : tensor<4x16xf32>, tensor<8x16xf32>) outs(%[[Z]] : tensor<4x8xf32>)
// CHECK: ^bb0(%[[A:.*]]: f32, %[[WV:.*]]: f32, %[[O:.*]]: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[A]], %[[WV]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[O]], %[[P]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[BMAP]], #{{.*}}], iterator_types = ["parallel", "parallel"]} ins(%[[ACC]], %[[B]] : tensor<4x8xf32>, tensor<8xf32>)
// CHECK: arith.addf
// CHECK: return %[[Y]]
func.func @linear(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Batched qc.linear: the leading dims become extra parallel loops.
// CHECK-LABEL: func.func @linear_batched
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<2x3x16xf32>, tensor<8x16xf32>) outs(%{{.*}} : tensor<2x3x8xf32>)
func.func @linear_batched(%x: tensor<2x3x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x3x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// qc.matmul (no microkernel: N not a multiple of 16): a [b, m, k] x [b, k, n] reduction with no epilogue, one
// math.fma per k in K order as the f32 microkernel computes (a dynamic build gives the static build's bits).
// CHECK-DAG: #[[AMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[BMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d3, d2)>
// CHECK-DAG: #[[CMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @matmul_batched
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[AMAP]], #[[BMAP]], #[[CMAP]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<3x6x8xf32>, tensor<3x8x4xf32>) outs(%{{.*}} : tensor<3x6x4xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[BV:.*]]: f32, %[[O:.*]]: f32):
// CHECK-NEXT: %[[S:.*]] = math.fma %[[A]], %[[BV]], %[[O]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK: return %[[Y]]
func.func @matmul_batched(%a: tensor<3x6x8xf32>, %b: tensor<3x8x4xf32>) -> tensor<3x6x4xf32> {
  %y = "qc.matmul"(%a, %b) : (tensor<3x6x8xf32>, tensor<3x8x4xf32>) -> tensor<3x6x4xf32>
  return %y : tensor<3x6x4xf32>
}

// -----

// qc.embedding: a parallel generic over the ids that index-casts each id, clamps it into [0, V-1] and extracts
// table[id, d]; an id outside the table (computed inside the model) yields NaN, never a read out of bounds.
// CHECK-LABEL: func.func private @__qc_embedding
// CHECK-SAME: (%[[T:.*]]: tensor<10x4xf32>, %[[IDS:.*]]: tensor<2x3xi64>)
// CHECK-DAG: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK-DAG: %[[LAST:.*]] = arith.constant 9 : index
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : index
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[IDS]] : tensor<2x3xi64>) outs(%{{.*}} : tensor<2x3x4xf32>)
// CHECK: ^bb0(%[[ID:.*]]: i64, %{{.*}}: f32):
// CHECK-NEXT: %[[I:.*]] = arith.index_cast %[[ID]] : i64 to index
// CHECK-NEXT: %[[J:.*]] = linalg.index 2 : index
// CHECK-NEXT: %[[LO:.*]] = arith.maxsi %[[I]], %[[ZERO]] : index
// CHECK-NEXT: %[[C:.*]] = arith.minsi %[[LO]], %[[LAST]] : index
// CHECK-NEXT: %[[IN:.*]] = arith.cmpi eq, %[[C]], %[[I]] : index
// CHECK-NEXT: %[[E:.*]] = tensor.extract %[[T]][%[[C]], %[[J]]] : tensor<10x4xf32>
// CHECK-NEXT: %[[Y:.*]] = arith.select %[[IN]], %[[E]], %[[NAN]] : f32
// CHECK-NEXT: linalg.yield %[[Y]] : f32
func.func @embedding(%w: tensor<10x4xf32>, %ids: tensor<2x3xi64>) -> tensor<2x3x4xf32> {
  %y = "qc.embedding"(%w, %ids) : (tensor<10x4xf32>, tensor<2x3xi64>) -> tensor<2x3x4xf32>
  return %y : tensor<2x3x4xf32>
}
