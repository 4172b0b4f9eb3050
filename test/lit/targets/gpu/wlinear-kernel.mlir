// RUN: %python -m qcomp.targets.gpu.dump --op wlinear --m 3 --n 40 --k 70 --bits 4 --group 32 | filecheck %s
// RUN: %python -m qcomp.targets.gpu.dump --op wlinear --m 6 --n 8 --k 64 --bits 8 --group 16 | filecheck %s --check-prefix=W8
// RUN: %python -m qcomp.targets.gpu.dump --op wlinear --m 3 --n 40 --k 70 --bits 4 --group 32 --stage ptx | filecheck %s --check-prefix=PTX
// RUN: %python -m qcomp.targets.gpu.dump --op wlinear --m 3 --n 40 --k 70 --bits 4 --group 32 --stage emulate | filecheck %s --check-prefix=EMU

// qc.wlinear w4a16 [3, 70] x [40, 70]ᵀ, groups of 32: int4 weights packed two per byte (wq [40, 35]),
// scales [40, ceil(70/32) = 3]. One thread per output column and 3 rows; 128 threads per block.
// CHECK: gpu.func @wlinear_m3_n40_k70_w4g32(%x: memref<3x70xf32>, %wq: memref<40x35xi8>, %scale: memref<40x3xf32>, %bias: memref<40xf32>, %y: memref<3x40xf32>) kernel
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>, known_grid_size = array<i32: 1, 1, 1>
// K is walked group by group (the scale loaded once per group), then k by k inside the group (the last
// group is partial: min(k0 + 32, 70)), with the three row accumulators in registers.
// CHECK: scf.for %{{.*}} iter_args({{.*}}) -> (f32, f32, f32)
// CHECK-NEXT: %[[S:.*]] = memref.load %scale
// CHECK: arith.minui %{{.*}}, %c_{{[0-9]+}} : index
// CHECK: scf.for %[[K:.*]] = %{{.*}} iter_args({{.*}}) -> (f32, f32, f32)
// The nibble of k is unpacked in i8: byte k/2, shifted left by 4 for the low nibble (even k), then an
// arithmetic shift right by 4 sign-extends it; sitofp and one mulf by the group scale dequantize it.
// CHECK-NEXT: arith.shrui %[[K]]
// CHECK-NEXT: %[[BYTE:.*]] = memref.load %wq
// CHECK: %[[SH:.*]] = arith.shli %[[BYTE]], %{{.*}} : i8
// CHECK-NEXT: %[[Q:.*]] = arith.shrsi %[[SH]], %{{.*}} : i8
// CHECK-NEXT: %[[QF:.*]] = arith.sitofp %[[Q]] : i8 to f32
// CHECK-NEXT: %[[W:.*]] = arith.mulf %[[QF]], %[[S]] : f32
// CHECK-NEXT: memref.load %x
// CHECK-NEXT: math.fma %{{.*}}, %[[W]], %{{.*}} : f32
// CHECK: scf.yield
// The bias is added once, stores guarded by n < N and m < M.
// CHECK: memref.load %bias
// CHECK: scf.if
// CHECK-NEXT: arith.addf
// CHECK-NEXT: memref.store %{{.*}}, %y
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return

// int8 weights: one byte per weight, no nibble unpacking; 6 rows -> 4 per thread, grid (1, 2).
// W8: gpu.func @wlinear_m6_n8_k64_w8g16(%x: memref<6x64xf32>, %wq: memref<8x64xi8>, %scale: memref<8x4xf32>
// W8-SAME: known_grid_size = array<i32: 1, 2, 1>
// W8-NOT: arith.shrsi
// W8: arith.sitofp %{{.*}} : i8 to f32
// W8-COUNT-4: math.fma

// In the PTX the nibble is unpacked with shifts, converted exactly, one mul.rn by the scale (never fused into an
// FMA: the dequantized weight is bit-exact), then FMAs per row; no libdevice calls remain.
// PTX: .visible .entry wlinear_m3_n40_k70_w4g32(
// PTX: .maxntid 128, 1, 1
// PTX: ld.global.b8
// PTX: shr.s16
// PTX: cvt.rn.f32.s16
// PTX-NEXT: mul.rn.f32
// PTX: fma.rn.f32
// PTX-NOT: call
// PTX: ret;

// The emulation: the same per-thread code with the blocks and the threads as loops.
// EMU: func.func @wlinear_m3_n40_k70_w4g32({{.*}}) attributes {llvm.emit_c_interface}
// EMU: scf.for %by =
// EMU: scf.for %bx =
// EMU: scf.for %tid{{[0-9]+}} =
// EMU: arith.shrsi
// EMU: math.fma
// EMU-NOT: gpu.
