// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// Per-channel quantization on axis 0 reads scale[d0]; 4 bits clamp to [-7, 7]; NaN gets code 0.
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @quantize_per_channel_4bit
// CHECK-SAME: (%[[W:.*]]: tensor<8x12xf32>, %[[S:.*]]: tensor<8xf32>)
// CHECK-DAG: %[[HI:.*]] = arith.constant 7.000000e+00 : f32
// CHECK-DAG: %[[LO:.*]] = arith.constant -7.000000e+00 : f32
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[ROW]], #{{.*}}]{{.*}} ins(%[[W]], %[[S]] : tensor<8x12xf32>, tensor<8xf32>) outs(%{{.*}} : tensor<8x12xi8>)
// CHECK: math.roundeven
// CHECK-NEXT: arith.maximumf %{{.*}}, %[[LO]] : f32
// CHECK-NEXT: %[[C:.*]] = arith.minimumf %{{.*}}, %[[HI]] : f32
// CHECK-NEXT: %[[NAN:.*]] = arith.cmpf uno, %[[C]], %[[C]] : f32
// CHECK-NEXT: %[[Z:.*]] = arith.select %[[NAN]], %{{.*}}, %[[C]] : f32
// CHECK-NEXT: arith.fptosi %[[Z]] : f32 to i8
func.func @quantize_per_channel_4bit(%w: tensor<8x12xf32>, %s: tensor<8xf32>) -> tensor<8x12xi8> {
  %q = "qc.quantize"(%w, %s) {bits = 4 : i64, axis = 0 : i64} : (tensor<8x12xf32>, tensor<8xf32>) -> tensor<8x12xi8>
  return %q : tensor<8x12xi8>
}

// -----

// Dynamic per-token quantization: a max|x| row reduction, scale = absmax / 127 (1 for an all-zero
// row), quantization with that scale, and the scale reshaped to [..., 1].
// CHECK-LABEL: func.func @quantize_dynamic_per_token
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x12xf32>)
// CHECK-DAG: %[[QMAX:.*]] = arith.constant 1.270000e+02 : f32
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[AMAX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<2x3x12xf32>) outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: math.absf
// CHECK-NEXT: arith.maximumf
// CHECK: %[[SCALE:.*]] = linalg.generic {{.*}} ins(%[[AMAX]] : tensor<2x3xf32>)
// CHECK: %[[D:.*]] = arith.divf %{{.*}}, %[[QMAX]] : f32
// CHECK-NEXT: %[[Z:.*]] = arith.cmpf oeq, %[[D]], %[[ZERO]] : f32
// CHECK-NEXT: arith.select %[[Z]], %[[ONE]], %[[D]] : f32
// CHECK: %[[Q:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[SCALE]] : tensor<2x3x12xf32>, tensor<2x3xf32>) outs(%{{.*}} : tensor<2x3x12xi8>)
// CHECK: math.roundeven
// CHECK: %[[S3:.*]] = tensor.expand_shape %[[SCALE]] {{\[}}[0], [1, 2]] output_shape [2, 3, 1] : tensor<2x3xf32> into tensor<2x3x1xf32>
// CHECK: return %[[Q]], %[[S3]]
func.func @quantize_dynamic_per_token(%x: tensor<2x3x12xf32>) -> (tensor<2x3x12xi8>, tensor<2x3x1xf32>) {
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<2x3x12xf32>) -> (tensor<2x3x12xi8>, tensor<2x3x1xf32>)
  return %q, %s : tensor<2x3x12xi8>, tensor<2x3x1xf32>
}

// -----

// Dynamic per-tensor quantization reduces over every dim into a rank-0 tensor, then a [1] scale.
// CHECK-LABEL: func.func @quantize_dynamic_per_tensor
// CHECK: linalg.generic {{.*}}iterator_types = ["reduction", "reduction", "reduction", "reduction"]} ins(%{{.*}} : tensor<1x2x5x5xf32>) outs(%{{.*}} : tensor<f32>)
// CHECK: %[[SCALE:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<f32>) outs(%{{.*}} : tensor<1xf32>)
// CHECK: %[[Q:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[SCALE]] : tensor<1x2x5x5xf32>, tensor<1xf32>) outs(%{{.*}} : tensor<1x2x5x5xi8>)
// CHECK: return %[[Q]], %[[SCALE]]
func.func @quantize_dynamic_per_tensor(%x: tensor<1x2x5x5xf32>) -> (tensor<1x2x5x5xi8>, tensor<1xf32>) {
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<1x2x5x5xf32>) -> (tensor<1x2x5x5xi8>, tensor<1xf32>)
  return %q, %s : tensor<1x2x5x5xi8>, tensor<1xf32>
}

// -----

// dequantize: f32(q) * scale, per tensor (scale[0]).
// CHECK-DAG: #[[ZERO:.*]] = affine_map<(d0, d1) -> (0)>
// CHECK-LABEL: func.func @dequantize
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[ZERO]], #{{.*}}]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<4x8xi32>, tensor<1xf32>)
// CHECK: ^bb0(%[[Q:.*]]: i32, %[[S:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[F:.*]] = arith.sitofp %[[Q]] : i32 to f32
// CHECK-NEXT: %[[Y:.*]] = arith.mulf %[[F]], %[[S]] : f32
// CHECK-NEXT: linalg.yield %[[Y]] : f32
func.func @dequantize(%acc: tensor<4x8xi32>, %s: tensor<1xf32>) -> tensor<4x8xf32> {
  %d = "qc.dequantize"(%acc, %s) {axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xf32>
  return %d : tensor<4x8xf32>
}

// -----

// requantize multiplies f32(acc) by the scale itself (not its inverse), then rounds and clamps.
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @requantize_per_channel
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[COL]], #{{.*}}]{{.*}} ins(%{{.*}}, %{{.*}} : tensor<4x8xi32>, tensor<8xf32>) outs(%{{.*}} : tensor<4x8xi8>)
// CHECK: ^bb0(%[[A:.*]]: i32, %[[S:.*]]: f32, %{{.*}}: i8):
// CHECK-NEXT: %[[F:.*]] = arith.sitofp %[[A]] : i32 to f32
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[F]], %[[S]] : f32
// CHECK-NEXT: math.roundeven %[[M]] : f32
// CHECK-NOT: arith.divf
// CHECK: return
func.func @requantize_per_channel(%acc: tensor<4x8xi32>, %s: tensor<8xf32>) -> tensor<4x8xi8> {
  %q = "qc.requantize"(%acc, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x8xi32>, tensor<8xf32>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// -----

// qmatmul: i8 x i8 -> i32 batched reduction, then (f32(acc) * as[m]) * bs[n] with no bias.
// CHECK-DAG: #[[AS:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
// CHECK-DAG: #[[BS:.*]] = affine_map<(d0, d1, d2) -> (d0, 0, d2)>
// CHECK-LABEL: func.func @qmatmul
// CHECK-SAME: (%[[AQ:.*]]: tensor<2x6x8xi8>, %[[ASV:.*]]: tensor<2x6x1xf32>, %[[BQ:.*]]: tensor<2x8x5xi8>, %[[BSV:.*]]: tensor<2x1x5xf32>)
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[AQ]], %[[BQ]] : tensor<2x6x8xi8>, tensor<2x8x5xi8>) outs(%{{.*}} : tensor<2x6x5xi32>)
// CHECK: arith.extsi
// CHECK: arith.muli
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[AS]], #[[BS]], #{{.*}}]{{.*}} ins(%[[ACC]], %[[ASV]], %[[BSV]] : tensor<2x6x5xi32>, tensor<2x6x1xf32>, tensor<2x1x5xf32>)
// CHECK: arith.sitofp
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: %[[U:.*]] = arith.mulf
// CHECK-NEXT: linalg.yield %[[U]] : f32
func.func @qmatmul(%aq: tensor<2x6x8xi8>, %as: tensor<2x6x1xf32>, %bq: tensor<2x8x5xi8>, %bs: tensor<2x1x5xf32>) -> tensor<2x6x5xf32> {
  %y = "qc.qmatmul"(%aq, %as, %bq, %bs) : (tensor<2x6x8xi8>, tensor<2x6x1xf32>, tensor<2x8x5xi8>, tensor<2x1x5xf32>) -> tensor<2x6x5xf32>
  return %y : tensor<2x6x5xf32>
}
