// RUN: qcomp-opt %s --split-input-file -p qc-cim-offload | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-cim-offload{preset=mnsim}' | filecheck %s --check-prefix=MNSIM

// A constant-weight qc.qlinear [N=200, K=300] becomes an external call whose attributes name its mapping.
// neurosim (128x128, 1 bit/cell, offset + dummy column): 3 row tiles x ceil(200·8 / 127) = 13 column tiles.
// mnsim (256x256, differential): 7 magnitude slices x 2 polarities: 2 row tiles x ceil(2800 / 256) = 11.
// CHECK-LABEL: func.func private @cim_0(memref<4x300xi8>, memref<4x1xf32>, memref<200x300xi8>, memref<200xf32>, memref<200xf32>, memref<4x200xf32>)
// CHECK-LABEL: func.func @main
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x200xf32>
// CHECK: call @cim_0({{.*}}, %[[OUT]]) {cim.arrays = 39 : i32, cim.col_tiles = 13 : i32, cim.input_cycles = 7 : i32, cim.polarity = 1 : i32, cim.row_tiles = 3 : i32, cim.slices = 8 : i32, cim.utilization = {{.*}} : f32, cim.weight_bits = 8 : i32, qc.attrs = {act = "none", qc.precision = "w8a8"}, qc.offload = "qc.qlinear"}
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict
// CHECK-NOT: "qc.qlinear"
// CHECK: return %[[Y]]
// MNSIM: call @cim_0({{.*}}) {cim.arrays = 22 : i32, cim.col_tiles = 11 : i32, cim.input_cycles = 7 : i32, cim.polarity = 2 : i32, cim.row_tiles = 2 : i32, cim.slices = 7 : i32
func.func @main(%xq: tensor<4x300xi8>, %xs: tensor<4x1xf32>) -> tensor<4x200xf32> {
  %w = arith.constant dense<3> : tensor<200x300xi8>
  %ws = arith.constant dense<0.5> : tensor<200xf32>
  %b = arith.constant dense<0.25> : tensor<200xf32>
  %y = "qc.qlinear"(%xq, %xs, %w, %ws, %b) {act = "none", qc.precision = "w8a8"} : (tensor<4x300xi8>, tensor<4x1xf32>, tensor<200x300xi8>, tensor<200xf32>, tensor<200xf32>) -> tensor<4x200xf32>
  return %y : tensor<4x200xf32>
}

// -----

// 4-bit weights (mixed precision) take half the slices: 4 columns per output, ceil(64·4 / 127) = 3 arrays.
// CHECK-LABEL: func.func @main
// CHECK: call @cim_0({{.*}}) {cim.arrays = 3 : i32, cim.col_tiles = 3 : i32, {{.*}}cim.slices = 4 : i32, {{.*}}cim.weight_bits = 4 : i32
func.func @main(%xq: tensor<4x64xi8>, %xs: tensor<4x1xf32>) -> tensor<4x64xf32> {
  %w = arith.constant dense<3> : tensor<64x64xi8>
  %ws = arith.constant dense<0.5> : tensor<64xf32>
  %b = arith.constant dense<0.25> : tensor<64xf32>
  %y = "qc.qlinear"(%xq, %xs, %w, %ws, %b) {act = "none", qc.precision = "w4a8"} : (tensor<4x64xi8>, tensor<4x1xf32>, tensor<64x64xi8>, tensor<64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

// Weights that arrive at run time cannot be programmed into the arrays, and attention's activation x
// activation qc.matmul stays on the host: nothing is offloaded (negative case).
// CHECK-LABEL: func.func @main
// CHECK-NOT: call @cim_
// CHECK: "qc.qlinear"
// CHECK: "qc.matmul"
func.func @main(%xq: tensor<4x64xi8>, %xs: tensor<4x1xf32>, %w: tensor<64x64xi8>, %a: tensor<2x4x8xf32>, %c: tensor<2x8x4xf32>) -> (tensor<4x64xf32>, tensor<2x4x4xf32>) {
  %ws = arith.constant dense<0.5> : tensor<64xf32>
  %b = arith.constant dense<0.25> : tensor<64xf32>
  %y = "qc.qlinear"(%xq, %xs, %w, %ws, %b) {act = "none"} : (tensor<4x64xi8>, tensor<4x1xf32>, tensor<64x64xi8>, tensor<64xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  %m = "qc.matmul"(%a, %c) : (tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<2x4x4xf32>
  return %y, %m : tensor<4x64xf32>, tensor<2x4x4xf32>
}
