// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg,qc-cpu-pack-weights{pairs=false} | filecheck %s
// pairs=false: the VNNI layouts below on any host (on a CPU without VNNI the int8 kernels also get an i16-pair
// twin, which pairs=true would call; test/unit/test_cpu_pair_kernel.py checks that layout).

// A constant qc.linear weight w[n, k] = 4n + k (32 x 4) is packed at compile time into f32 panels
// [N/NR][K][NR] = [1][4][32] (so the first panel row is w[:, 0] = 0, 4, 8, ...: hex f32 0x00000000,
// 0x40800000, 0x41000000, printed little-endian) and @main calls the
// packed kernel directly; the copying function and the original constant are gone.
// CHECK-LABEL: func.func @main
// CHECK-NOT: tensor<32x4xf32>
// CHECK: %[[P:.*]] = arith.constant dense<"0x000000000000804000000041{{.*}}"> : tensor<1x4x32xf32>
// CHECK: call @[[K:__qc_linear_0_packed]](%arg0, %[[P]], %arg1) {no_inline}
// CHECK-NOT: func.func private @__qc_linear_0(
// CHECK: func.func private @[[K]]({{.*}}: tensor<1x4x32xf32>
// CHECK: vector.fma
func.func @main(%x: tensor<2x4xf32>, %b: tensor<32xf32>) -> tensor<2x32xf32> {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0], [12.0, 13.0, 14.0, 15.0], [16.0, 17.0, 18.0, 19.0], [20.0, 21.0, 22.0, 23.0], [24.0, 25.0, 26.0, 27.0], [28.0, 29.0, 30.0, 31.0], [32.0, 33.0, 34.0, 35.0], [36.0, 37.0, 38.0, 39.0], [40.0, 41.0, 42.0, 43.0], [44.0, 45.0, 46.0, 47.0], [48.0, 49.0, 50.0, 51.0], [52.0, 53.0, 54.0, 55.0], [56.0, 57.0, 58.0, 59.0], [60.0, 61.0, 62.0, 63.0], [64.0, 65.0, 66.0, 67.0], [68.0, 69.0, 70.0, 71.0], [72.0, 73.0, 74.0, 75.0], [76.0, 77.0, 78.0, 79.0], [80.0, 81.0, 82.0, 83.0], [84.0, 85.0, 86.0, 87.0], [88.0, 89.0, 90.0, 91.0], [92.0, 93.0, 94.0, 95.0], [96.0, 97.0, 98.0, 99.0], [100.0, 101.0, 102.0, 103.0], [104.0, 105.0, 106.0, 107.0], [108.0, 109.0, 110.0, 111.0], [112.0, 113.0, 114.0, 115.0], [116.0, 117.0, 118.0, 119.0], [120.0, 121.0, 122.0, 123.0], [124.0, 125.0, 126.0, 127.0]]> : tensor<32x4xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x4xf32>, tensor<32x4xf32>, tensor<32xf32>) -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}

// -----

// A qc.qlinear weight w[n, k] = 8n + k (16 x 8, i8) is packed into VNNI quads [N/NR][K/4][NR·4] =
// [1][2][64]: row 0 holds w[n, 0..3] for n = 0, 1, ... = 0, 1, 2, 3, 8, 9, 10, 11, ...; the kernel's +128
// correction 128 · Σ_k w[n, k] = 128 · (64n + 28) = 3584, 11776, ... comes as a constant last operand, so the
// kernel does not sum the weight on every call.
// CHECK-LABEL: func.func @main
// CHECK-DAG: %[[C:.*]] = arith.constant dense<[3584, 11776, 19968, {{.*}}, 126464]> : tensor<16xi32>
// CHECK-DAG: %[[P:.*]] = arith.constant dense<"0x0001020308090A0B10{{.*}}"> : tensor<1x2x64xi8>
// CHECK: call @__qc_qlinear_0_packed(%arg0, %arg1, %[[P]], %arg2, %arg3, %[[C]]) {no_inline}
// CHECK: func.func private @__qc_qlinear_0_packed({{.*}}, %arg5: tensor<16xi32>)
// CHECK-NOT: arith.shli
func.func @main(%x: tensor<3x8xi8>, %xs: tensor<3x1xf32>, %ws: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %w = arith.constant dense<[[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21, 22, 23], [24, 25, 26, 27, 28, 29, 30, 31], [32, 33, 34, 35, 36, 37, 38, 39], [40, 41, 42, 43, 44, 45, 46, 47], [48, 49, 50, 51, 52, 53, 54, 55], [56, 57, 58, 59, 60, 61, 62, 63], [64, 65, 66, 67, 68, 69, 70, 71], [72, 73, 74, 75, 76, 77, 78, 79], [80, 81, 82, 83, 84, 85, 86, 87], [88, 89, 90, 91, 92, 93, 94, 95], [96, 97, 98, 99, 100, 101, 102, 103], [104, 105, 106, 107, 108, 109, 110, 111], [112, 113, 114, 115, 116, 117, 118, 119], [120, 121, 122, 123, 124, 125, 126, 127]]> : tensor<16x8xi8>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none"} : (tensor<3x8xi8>, tensor<3x1xf32>, tensor<16x8xi8>, tensor<16xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// One weight used by two ops is packed once.
// CHECK-LABEL: func.func @main
// CHECK-COUNT-1: arith.constant dense<{{.*}}> : tensor<1x4x32xf32>
// CHECK: call @__qc_linear_0_packed
// CHECK: call @__qc_linear_0_packed
func.func @main(%x: tensor<2x4xf32>, %b: tensor<32xf32>) -> (tensor<2x32xf32>, tensor<2x32xf32>) {
  %w = arith.constant dense<[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 10.0, 11.0], [12.0, 13.0, 14.0, 15.0], [16.0, 17.0, 18.0, 19.0], [20.0, 21.0, 22.0, 23.0], [24.0, 25.0, 26.0, 27.0], [28.0, 29.0, 30.0, 31.0], [32.0, 33.0, 34.0, 35.0], [36.0, 37.0, 38.0, 39.0], [40.0, 41.0, 42.0, 43.0], [44.0, 45.0, 46.0, 47.0], [48.0, 49.0, 50.0, 51.0], [52.0, 53.0, 54.0, 55.0], [56.0, 57.0, 58.0, 59.0], [60.0, 61.0, 62.0, 63.0], [64.0, 65.0, 66.0, 67.0], [68.0, 69.0, 70.0, 71.0], [72.0, 73.0, 74.0, 75.0], [76.0, 77.0, 78.0, 79.0], [80.0, 81.0, 82.0, 83.0], [84.0, 85.0, 86.0, 87.0], [88.0, 89.0, 90.0, 91.0], [92.0, 93.0, 94.0, 95.0], [96.0, 97.0, 98.0, 99.0], [100.0, 101.0, 102.0, 103.0], [104.0, 105.0, 106.0, 107.0], [108.0, 109.0, 110.0, 111.0], [112.0, 113.0, 114.0, 115.0], [116.0, 117.0, 118.0, 119.0], [120.0, 121.0, 122.0, 123.0], [124.0, 125.0, 126.0, 127.0]]> : tensor<32x4xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x4xf32>, tensor<32x4xf32>, tensor<32xf32>) -> tensor<2x32xf32>
  %z = "qc.linear"(%x, %w, %b) : (tensor<2x4xf32>, tensor<32x4xf32>, tensor<32xf32>) -> tensor<2x32xf32>
  return %y, %z : tensor<2x32xf32>, tensor<2x32xf32>
}

// -----

// A weight that is not a constant is packed by the kernel's own copy at run time: nothing changes.
// CHECK-LABEL: func.func @main
// CHECK: call @__qc_linear_0(%arg0, %arg1, %arg2) {no_inline}
// CHECK: func.func private @__qc_linear_0({{.*}} attributes {{.*}}qc.pack = "f32_panels"
// CHECK: linalg.generic
// CHECK: call @__qc_linear_0_packed
func.func @main(%x: tensor<2x4xf32>, %w: tensor<32x4xf32>, %b: tensor<32xf32>) -> tensor<2x32xf32> {
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x4xf32>, tensor<32x4xf32>, tensor<32xf32>) -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}

// -----

// An output width that is not a multiple of 16 keeps the plain linalg.generic lowering: no packing.
// CHECK-LABEL: func.func @main
// CHECK: arith.constant dense<{{.*}}> : tensor<8x4xf32>
// CHECK: call @__qc_linear_0(
// CHECK-NOT: qc.pack
func.func @main(%x: tensor<2x4xf32>, %b: tensor<8xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<1.5> : tensor<8x4xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<2x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// -----

// qc.wlinear (int4, group 4): the packed nibbles [N, K/2] = [16, 2] and the scales [N, G] = [16, 1] both
// go into panels ([1][2][16] and [1][1][16]) and the kernel that dequantizes panel by panel is called.
// CHECK-LABEL: func.func @main
// CHECK-DAG: %[[Q:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x16xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{.*}}> : tensor<1x1x16xf32>
// CHECK: call @__qc_wlinear_0_packed(%arg0, %[[Q]], %[[S]], %arg1) {no_inline}
// CHECK: func.func private @__qc_wlinear_0_packed({{.*}}: tensor<1x2x16xi8>, {{.*}}: tensor<1x1x16xf32>
// CHECK: arith.shrsi {{.*}} : vector<16xi8>
// CHECK: arith.sitofp {{.*}} : vector<16xi8> to vector<16xf32>
func.func @main(%x: tensor<3x4xf32>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %wq = arith.constant dense<[[-50, -49], [-48, -47], [-46, -45], [-44, -43], [-42, -41], [-40, -39], [-38, -37], [-36, -35], [-34, -33], [-32, -31], [-30, -29], [-28, -27], [-26, -25], [-24, -23], [-22, -21], [-20, -19]]> : tensor<16x2xi8>
  %s = arith.constant dense<[[0.5], [1.5], [2.5], [3.5], [4.5], [5.5], [6.5], [7.5], [8.5], [9.5], [10.5], [11.5], [12.5], [13.5], [14.5], [15.5]]> : tensor<16x1xf32>
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 4 : i64, group = 4 : i64} : (tensor<3x4xf32>, tensor<16x2xi8>, tensor<16x1xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// Only the scales are constant: the call keeps the per-call dequantization (every packed operand must be
// a constant).
// CHECK-LABEL: func.func @main
// CHECK: call @__qc_wlinear_0(
// CHECK-NOT: call @__qc_wlinear_0_packed
func.func @main(%x: tensor<3x4xf32>, %wq: tensor<16x2xi8>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %s = arith.constant dense<[[0.5], [1.5], [2.5], [3.5], [4.5], [5.5], [6.5], [7.5], [8.5], [9.5], [10.5], [11.5], [12.5], [13.5], [14.5], [15.5]]> : tensor<16x1xf32>
  %y = "qc.wlinear"(%x, %wq, %s, %b) {bits = 4 : i64, group = 4 : i64} : (tensor<3x4xf32>, tensor<16x2xi8>, tensor<16x1xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// A W4A8 qc.qlinear whose constant weight holds only int4 values, w[n, k] = (8n + k) mod 16 - 8 (16 x 8), is
// packed two per byte into i4_vnni_panels [N/NR][K/8][NR·4] = [1][1][64] (half the i8 layout's [1][2][64]):
// byte 4n + r holds w[n, r] + 8 in its low nibble and w[n, 4 + r] + 8 in its high one (n = 0: 0x40, 0x51,
// 0x62, 0x73 = 64, 81, 98, 115; n = 1: 0xC8 = -56, ...), and @main calls the int4 twin, whose k loop unpacks
// the nibbles with and/shift.
// CHECK-LABEL: func.func @main
// CHECK-NOT: tensor<16x8xi8>
// CHECK: %[[P:.*]] = arith.constant dense<{{.*}}64, 81, 98, 115, -56, -39, -22, -5, 64{{.*}}> : tensor<1x1x64xi8>
// CHECK: call @[[K:__qc_qlinear_0_packed_i4]](%arg0, %arg1, %[[P]], %arg2, %arg3) {no_inline}
// CHECK: func.func private @[[K]]({{.*}}: tensor<1x1x64xi8>
// CHECK: arith.andi {{.*}} : vector<64xi8>
// CHECK: arith.shrui {{.*}} : vector<64xi8>
func.func @main(%x: tensor<3x8xi8>, %xs: tensor<3x1xf32>, %ws: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %w = arith.constant dense<[[-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<16x8xi8>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none", qc.precision = "w4a8"} : (tensor<3x8xi8>, tensor<3x1xf32>, tensor<16x8xi8>, tensor<16xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// negative_int4_out_of_range: one weight value (9) does not fit in int4: the weight keeps the i8 VNNI layout
// and the i8 kernel is called.
// CHECK-LABEL: func.func @main
// CHECK-DAG: %[[P:.*]] = arith.constant dense<{{.*}}> : tensor<1x2x64xi8>
// CHECK: call @__qc_qlinear_0_packed(%arg0, %arg1, %[[P]], %arg2, %arg3, %{{.*}}) {no_inline}
// CHECK-NOT: _packed_i4
func.func @main(%x: tensor<3x8xi8>, %xs: tensor<3x1xf32>, %ws: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %w = arith.constant dense<[[-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 7], [-8, -7, -6, -5, -4, -3, -2, -1], [0, 1, 2, 3, 4, 5, 6, 9]]> : tensor<16x8xi8>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none", qc.precision = "w4a8"} : (tensor<3x8xi8>, tensor<3x1xf32>, tensor<16x8xi8>, tensor<16xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}

// -----

// negative_int4_k_not_multiple_of_8: K = 12 has no whole pair of k-quads: no int4 twin, the i8 layout.
// CHECK-LABEL: func.func @main
// CHECK: %[[P:.*]] = arith.constant dense<{{.*}}> : tensor<1x3x64xi8>
// CHECK: call @__qc_qlinear_0_packed(%arg0, %arg1, %[[P]], %arg2, %arg3, %{{.*}}) {no_inline}
// CHECK-NOT: _packed_i4
func.func @main(%x: tensor<3x12xi8>, %xs: tensor<3x1xf32>, %ws: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<3x16xf32> {
  %w = arith.constant dense<[[-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3], [-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4], [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5], [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6], [-4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7], [-3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8], [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7], [-1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6], [0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5], [1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4], [2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3], [3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2], [4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1], [5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0], [6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1], [7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2]]> : tensor<16x12xi8>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none", qc.precision = "w4a8"} : (tensor<3x12xi8>, tensor<3x1xf32>, tensor<16x12xi8>, tensor<16xf32>, tensor<16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}
