// RUN: %python -m qcomp.targets.gpu.dump --m 40 --n 24 --k 72 --act relu | filecheck %s
// RUN: %python -m qcomp.targets.gpu.dump --m 16 --n 8 --k 64 --per-tensor | filecheck %s --check-prefix=FULLK
// RUN: %python -m qcomp.targets.gpu.dump --m 16 --n 8 --k 64 --stage emulate | filecheck %s --check-prefix=EMU

// The kernel of a qc.qlinear [40, 72] x [24, 72]ᵀ: 4 warps (2 x 2) per block, each warp 1 x 4 tensor-core
// tiles of 16 x 8, so a block tile of 32 x 64 and a grid of (ceil(24/64), ceil(40/32)) = (1, 2).
// CHECK: gpu.module @qc_gpu
// CHECK: gpu.func @qlinear_m40_n24_k72_relu_t(%[[XQ:.*]]: memref<40x72xi8>, %[[XS:.*]]: memref<40xf32>, %[[WQ:.*]]: memref<24x72xi8>, %[[WS:.*]]: memref<24xf32>, %[[B:.*]]: memref<24xf32>, %[[Y:.*]]: memref<40x24xf32>) kernel
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>, known_grid_size = array<i32: 1, 2, 1>
// CHECK-DAG: gpu.thread_id x
// CHECK-DAG: gpu.block_id x
// CHECK-DAG: gpu.block_id y
// K is walked in 32-wide steps with the four accumulators in registers (iter_args) ...
// CHECK: scf.for %k0 = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (vector<2x2xi32>, vector<2x2xi32>, vector<2x2xi32>, vector<2x2xi32>)
// CHECK: vector.load %[[XQ]][{{.*}}] {alignment = 4 : i64} : memref<40x72xi8>, vector<4xi8>
// CHECK: vector.load %[[WQ]][{{.*}}] {alignment = 4 : i64} : memref<24x72xi8>, vector<4xi8>
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 32]} : (vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK: scf.yield
// ... and the K tail (72 = 2·32 + 8) is one more step whose loads pad with zeros.
// CHECK: vector.transfer_read %[[XQ]][{{.*}}], %{{.*}} {in_bounds = [false]} : memref<40x72xi8>, vector<4xi8>
// CHECK: nvgpu.mma.sync
// The epilogue is fused: each lane converts its accumulators, applies the per-token and per-channel
// scales, the bias and the ReLU in registers and stores y once, guarded by m < M and n < N.
// CHECK: arith.cmpi ult, %{{.*}}, %{{.*}} : index
// CHECK: scf.if
// CHECK-NEXT: vector.extract %{{.*}}[0, 0] : i32 from vector<2x2xi32>
// CHECK-NEXT: arith.sitofp %{{.*}} : i32 to f32
// CHECK-NEXT: memref.load %[[XS]]
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: memref.load %[[WS]]
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: memref.load %[[B]]
// CHECK-NEXT: arith.addf
// CHECK-NEXT: arith.maximumf
// CHECK-NEXT: memref.store %{{.*}}, %[[Y]]
// No intermediate i32 buffer, no shared memory: accumulators never leave registers.
// CHECK-NOT: memref.alloc
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return

// K a multiple of 32: no tail step; one activation scale (xs [1]) read at index 0.
// FULLK: gpu.func @qlinear_m16_n8_k64_none_s({{.*}}%[[XS:.*]]: memref<1xf32>
// FULLK: nvgpu.mma.sync
// FULLK-NOT: vector.transfer_read
// FULLK: memref.load %[[XS]][%{{.*}}] : memref<1xf32>
// FULLK-NOT: arith.maximumf
// FULLK: gpu.return

// The CPU emulation: the same per-lane code with blocks, warps and lanes as loops; mma.sync runs in
// lock-step through per-warp fragment scratch buffers and the integer MMA of the PTX fragment layout.
// EMU: func.func @qlinear_m16_n8_k64_none_t({{.*}}) attributes {llvm.emit_c_interface}
// EMU: memref.alloca() : memref<32x4x4xi8>
// EMU: scf.for %by =
// EMU: scf.for %bx =
// EMU: scf.for %warp =
// EMU: scf.for %k0 =
// EMU: scf.for %lane{{[0-9]+}} =
// EMU: vector.load %{{.*}} {alignment = 4 : i64} : memref<16x64xi8>, vector<4xi8>
// EMU: func.call @qc_mma_m16n8k32(
// EMU: arith.sitofp
// EMU-NOT: nvgpu
// EMU: func.func private @qc_mma_m16n8k32(%{{.*}}: memref<32x4x4xi8>, %{{.*}}: memref<32x2x4xi8>, %{{.*}}: memref<32x2x2xi32>)
// EMU: arith.extsi
// EMU: arith.muli %{{.*}}, %{{.*}} : i32
