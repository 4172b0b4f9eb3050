// RUN: qcomp-opt %s --split-input-file | qcomp-opt - --split-input-file | filecheck %s

// Static per-tensor quantization: scale [1], i8 result.
// CHECK-LABEL: func.func @quantize_per_tensor
// CHECK-SAME: (%[[X:.*]]: tensor<4x16xf32>, %[[S:.*]]: tensor<1xf32>)
// CHECK: %[[Q:.*]] = "qc.quantize"(%[[X]], %[[S]]) {axis = -1 : i64, bits = 8 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
// CHECK: return %[[Q]]
func.func @quantize_per_tensor(%x: tensor<4x16xf32>, %s: tensor<1xf32>) -> tensor<4x16xi8> {
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %q : tensor<4x16xi8>
}

// -----

// Static per-channel quantization along axis 0 (the weight layout [N, K]) at 4 bits, stored in i8.
// CHECK-LABEL: func.func @quantize_per_channel_4bit
// CHECK: "qc.quantize"(%{{.*}}, %{{.*}}) {axis = 0 : i64, bits = 4 : i64} : (tensor<8x16xf32>, tensor<8xf32>) -> tensor<8x16xi8>
func.func @quantize_per_channel_4bit(%w: tensor<8x16xf32>, %s: tensor<8xf32>) -> tensor<8x16xi8> {
  %q = "qc.quantize"(%w, %s) {bits = 4 : i64, axis = 0 : i64} : (tensor<8x16xf32>, tensor<8xf32>) -> tensor<8x16xi8>
  return %q : tensor<8x16xi8>
}

// -----

// A wider integer result (i16) can hold 8-bit values too.
// CHECK-LABEL: func.func @quantize_into_i16
// CHECK: "qc.quantize"(%{{.*}}, %{{.*}}) {axis = -1 : i64, bits = 8 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi16>
func.func @quantize_into_i16(%x: tensor<4x16xf32>, %s: tensor<16xf32>) -> tensor<4x16xi16> {
  %q = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xi16>
  return %q : tensor<4x16xi16>
}

// -----

// Dynamic per-token quantization returns (q, scale) with scale [..., 1].
// CHECK-LABEL: func.func @quantize_dynamic_per_token
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x16xf32>)
// CHECK: %[[R:.*]]:2 = "qc.quantize_dynamic"(%[[X]]) {bits = 8 : i64, granularity = "per_token"} : (tensor<2x3x16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>)
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @quantize_dynamic_per_token(%x: tensor<2x3x16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>) {
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<2x3x16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>)
  return %q, %s : tensor<2x3x16xi8>, tensor<2x3x1xf32>
}

// -----

// Dynamic per-tensor quantization has a single scale [1].
// CHECK-LABEL: func.func @quantize_dynamic_per_tensor
// CHECK: "qc.quantize_dynamic"(%{{.*}}) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<1x2x5x5xf32>) -> (tensor<1x2x5x5xi8>, tensor<1xf32>)
func.func @quantize_dynamic_per_tensor(%x: tensor<1x2x5x5xf32>) -> tensor<1xf32> {
  %q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<1x2x5x5xf32>) -> (tensor<1x2x5x5xi8>, tensor<1xf32>)
  return %s : tensor<1xf32>
}

// -----

// Dequantize per channel (axis 0) back to f32; quantize -> dequantize chains.
// CHECK-LABEL: func.func @dequantize_per_channel
// CHECK-SAME: (%[[W:.*]]: tensor<8x16xf32>, %[[S:.*]]: tensor<8xf32>)
// CHECK: %[[Q:.*]] = "qc.quantize"(%[[W]], %[[S]])
// CHECK: %[[D:.*]] = "qc.dequantize"(%[[Q]], %[[S]]) {axis = 0 : i64} : (tensor<8x16xi8>, tensor<8xf32>) -> tensor<8x16xf32>
// CHECK: return %[[D]]
func.func @dequantize_per_channel(%w: tensor<8x16xf32>, %s: tensor<8xf32>) -> tensor<8x16xf32> {
  %q = "qc.quantize"(%w, %s) {bits = 8 : i64, axis = 0 : i64} : (tensor<8x16xf32>, tensor<8xf32>) -> tensor<8x16xi8>
  %d = "qc.dequantize"(%q, %s) {axis = 0 : i64} : (tensor<8x16xi8>, tensor<8xf32>) -> tensor<8x16xf32>
  return %d : tensor<8x16xf32>
}

// -----

// Dequantize of an i32 accumulator with a per-tensor scale.
// CHECK-LABEL: func.func @dequantize_i32_per_tensor
// CHECK: "qc.dequantize"(%{{.*}}, %{{.*}}) {axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xf32>
func.func @dequantize_i32_per_tensor(%acc: tensor<4x8xi32>, %s: tensor<1xf32>) -> tensor<4x8xf32> {
  %d = "qc.dequantize"(%acc, %s) {axis = -1 : i64} : (tensor<4x8xi32>, tensor<1xf32>) -> tensor<4x8xf32>
  return %d : tensor<4x8xf32>
}
