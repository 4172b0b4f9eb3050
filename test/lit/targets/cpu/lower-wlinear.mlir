// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// int4: the packed byte is read at (n, k floordiv 2), the scale at (n, k floordiv group); the nibble
// is picked by the parity of k and sign-extended with shifts, then one sitofp and one mulf (the
// reference's f32(q) · scale); the f32 product and bias follow as for qc.linear.
// CHECK-DAG: #[[PACKED:.*]] = affine_map<(d0, d1) -> (d0, d1 floordiv 2)>
// CHECK-DAG: #[[GROUP:.*]] = affine_map<(d0, d1) -> (d0, d1 floordiv 128)>
// CHECK-LABEL: func.func @wlinear_int4
// CHECK: call @__qc_wlinear_0({{.*}}) {no_inline}
// CHECK-LABEL: func.func private @__qc_wlinear_0
// CHECK-SAME: (%[[X:.*]]: tensor<4x256xf32>, %[[WQ:.*]]: tensor<8x128xi8>, %[[S:.*]]: tensor<8x2xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[W:.*]] = linalg.generic {indexing_maps = [#[[PACKED]], #[[GROUP]], #{{.*}}]{{.*}} ins(%[[WQ]], %[[S]] : tensor<8x128xi8>, tensor<8x2xf32>) outs(%{{.*}} : tensor<8x256xf32>)
// CHECK: linalg.index 1
// CHECK: arith.shli
// CHECK: arith.shrsi
// CHECK: arith.shrsi
// CHECK: arith.select
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[W]] : tensor<4x256xf32>, tensor<8x256xf32>)
func.func @wlinear_int4(%x: tensor<4x256xf32>, %wq: tensor<8x128xi8>, %s: tensor<8x2xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 4 : i64, group = 128 : i64} : (tensor<4x256xf32>, tensor<8x128xi8>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// int8 per channel: the weight is read directly, no unpacking.
// CHECK-LABEL: func.func private @__qc_wlinear_0
// CHECK-NOT: arith.shrsi
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK-NOT: arith.shrsi
func.func @wlinear_int8(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
