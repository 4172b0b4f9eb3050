// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// The w4a16 asymmetric form: unsigned codes packed two per byte (K = 256 -> wq [N, 128]), one scale and one
// zero point per group of 128 (scale and zp [N, 2]); it round-trips through the printer and the parser.
// CHECK-LABEL: func.func @wlinear_asym_int4_grouped
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x256xf32>, %[[WQ:.*]]: tensor<8x128xi8>, %[[S:.*]]: tensor<8x2xf32>, %[[Z:.*]]: tensor<8x2xi8>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[Y:.*]] = "qc.wlinear_asym"(%[[X]], %[[WQ]], %[[S]], %[[Z]], %[[B]]) {bits = 4 : i64, group = 128 : i64}
// CHECK: return %[[Y]]
func.func @wlinear_asym_int4_grouped(%x: tensor<2x3x256xf32>, %wq: tensor<8x128xi8>, %s: tensor<8x2xf32>, %z: tensor<8x2xi8>, %b: tensor<8xf32>) -> tensor<2x3x8xf32> {
  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {bits = 4 : i64, group = 128 : i64} : (tensor<2x3x256xf32>, tensor<8x128xi8>, tensor<8x2xf32>, tensor<8x2xi8>, tensor<8xf32>) -> tensor<2x3x8xf32>
  return %y : tensor<2x3x8xf32>
}

// -----

// The w8a16 asymmetric form: one group per output channel, codes unpacked (i8 bit patterns read unsigned).
// CHECK-LABEL: func.func @wlinear_asym_int8_per_channel
// CHECK: "qc.wlinear_asym"({{.*}}) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8x1xi8>, tensor<8xf32>) -> tensor<4x8xf32>
func.func @wlinear_asym_int8_per_channel(%x: tensor<4x16xf32>, %wq: tensor<8x16xi8>, %s: tensor<8x1xf32>, %z: tensor<8x1xi8>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = "qc.wlinear_asym"(%x, %wq, %s, %z, %b) {bits = 8 : i64, group = 16 : i64} : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x1xf32>, tensor<8x1xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
