// RUN: %python -m qcomp.targets.gpu.dump --m 16 --n 8 --k 64 --stage ptx | filecheck %s
// RUN: %python -m qcomp.targets.gpu.dump --m 16 --n 8 --k 64 --stage ptx --arch sm_80 | filecheck %s --check-prefix=SM80
// RUN: not %python -m qcomp.targets.gpu.dump --m 16 --n 8 --k 200000 2>&1 | filecheck %s --check-prefix=BIGK

// Golden PTX snippets of a small int8 GEMM (16 x 8 x 64) for sm_90, through NVVM and llvmlite's NVPTX.
// CHECK: .target sm_90
// CHECK: .address_size 64
// Bare-pointer kernel ABI: one pointer per buffer (xq, xs, wq, ws, b, y).
// CHECK: .visible .entry qlinear_m16_n8_k64_none_t(
// CHECK-COUNT-6: .param .u64 .ptr {{.*}}qlinear_m16_n8_k64_none_t_param_
// CHECK: .maxntid 128, 1, 1
// Fragments are loaded 4 bytes at a time and fed to the int8 tensor-core MMA with i32 accumulators.
// CHECK: ld.global.b32
// CHECK: mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32
// Epilogue: exact i32 -> f32 conversion, round-to-nearest multiplies and add that ptxas may not fuse
// into an FMA (bit-identical to the reference and the CPU target).
// CHECK: cvt.rn.f32.s32
// CHECK: mul.rn.f32
// CHECK: mul.rn.f32
// CHECK: add.rn.f32
// CHECK: st.global.b32
// CHECK-NOT: fma.rn.f32
// CHECK: ret;

// SM80: .target sm_80
// SM80: mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32

// BIGK: error: gpu gemm: K=200000 may overflow the i32 accumulator (max 131071)
