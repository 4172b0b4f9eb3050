// RUN: %python -m qcomp.targets.npu.dump %s --preset gemmini --dataflow ws --accumulator-kib 16 --dram-bandwidth 1e6 | filecheck %s

// Weight stationary, M=256 rows beyond the 16 KiB accumulator (a ring of four 64-row slots): with DRAM
// bandwidth to spare the streamed schedule is kept. Each weight fold (K = 16 + 8) is preloaded once and
// all M rows stream through it; the first fold's i32 partial sums are spilled (`st ... acc`) into the
// output tile's own place in y, the last fold reloads them (`ld ... acc`), accumulates, runs the epilogue
// and stores the result over them.
// CHECK-LABEL: npu_0:  ; qc.qlinear M=256 K=24 N=16 act=none
// CHECK-NEXT: config rows=16 cols=16 ws
// CHECK: preload w=[[W0:0x[0-9a-f]+]] k=16 n=16
// CHECK-NEXT: ld sp={{.*}} dram=0x0 rows=64 bytes=16 stride=24
// CHECK-NEXT: matmul acc=0x0 a={{.*}} w=[[W0]] k=16 m=64 n=16{{$}}
// CHECK-NEXT: st dram=[[Y0:0x[0-9a-f]+]] src=0x0 rows=64 bytes=64 stride=64 acc
// CHECK-NOT: preload
// CHECK: matmul acc=0x3000 a={{.*}} w=[[W0]] k=16 m=64 n=16{{$}}
// CHECK-NEXT: st dram=[[Y3:0x[0-9a-f]+]] src=0x3000 rows=64 bytes=64 stride=64 acc
// CHECK-NEXT: ld sp=[[W1:0x[0-9a-f]+]] dram={{.*}} rows=16 bytes=8 stride=24
// CHECK-NEXT: preload w=[[W1]] k=8 n=16
// CHECK-NEXT: ld sp={{.*}} dram=0x10 rows=64 bytes=8 stride=24
// CHECK-NEXT: ld sp=0x0 dram=[[Y0]] rows=64 bytes=64 stride=64 acc
// CHECK-NEXT: matmul acc=0x0 a={{.*}} w=[[W1]] k=8 m=64 n=16 accumulate
// CHECK-NEXT: epi acc=0x0 xs={{.*}} m=64 n=16{{$}}
// CHECK-NEXT: st dram=[[Y0]] src=0x0 rows=64 bytes=64 stride=64 acc
// CHECK-NOT: preload
// CHECK: ld sp=0x3000 dram=[[Y3]] rows=64 bytes=64 stride=64 acc
// CHECK: st dram=[[Y3]] src=0x3000 rows=64 bytes=64 stride=64 acc
// CHECK-NEXT: halt
func.func @main(%x: tensor<256x24xi8>, %xs: tensor<256x1xf32>) -> tensor<256x16xf32> {
  %w = arith.constant dense<3> : tensor<16x24xi8>
  %ws = arith.constant dense<0.5> : tensor<16xf32>
  %b = arith.constant dense<1.0> : tensor<16xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none"} : (tensor<256x24xi8>, tensor<256x1xf32>, tensor<16x24xi8>, tensor<16xf32>, tensor<16xf32>) -> tensor<256x16xf32>
  return %y : tensor<256x16xf32>
}
