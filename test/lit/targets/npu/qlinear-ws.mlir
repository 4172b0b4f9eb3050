// RUN: %python -m qcomp.targets.npu.dump %s --preset gemmini | filecheck %s

// Weight stationary on a 16x16 array: K=24 is two slices (16 + 8), N=20 two column tiles (16 + 4).
// Each slice preloads its weight tile and streams all M=40 rows; the second slice accumulates; the
// vector unit applies the epilogue (relu, per-token xs) in the accumulator, then one strided store per tile.
// The chunk's x slices are loaded once (resident) and reused by the second column tile.
// CHECK: ; qcomp npu program: gemmini 16x16 ws
// CHECK-LABEL: npu_0:  ; qc.qlinear M=40 K=24 N=20 act=relu
// CHECK-NEXT: config rows=16 cols=16 ws
// CHECK: ld sp=[[X0:0x[0-9a-f]+]] dram=0x0 rows=40 bytes=16 stride=24
// CHECK-NEXT: ld sp=[[W0:0x[0-9a-f]+]] dram={{.*}} rows=16 bytes=16 stride=24
// CHECK-NEXT: preload w=[[W0]] k=16 n=16
// CHECK-NEXT: matmul acc=0x0 a=[[X0]] w=[[W0]] k=16 m=40 n=16{{$}}
// CHECK-NEXT: ld sp=[[X1:0x[0-9a-f]+]] dram=0x10 rows=40 bytes=8 stride=24
// CHECK-NEXT: ld sp=[[W1:0x[0-9a-f]+]] dram={{.*}} rows=16 bytes=8 stride=24
// CHECK-NEXT: preload w=[[W1]] k=8 n=16
// CHECK-NEXT: matmul acc=0x0 a=[[X1]] w=[[W1]] k=8 m=40 n=16 accumulate
// CHECK-NEXT: epi acc=0x0 xs={{.*}} m=40 n=16 relu{{$}}
// CHECK-NEXT: st dram={{.*}} src=0x0 rows=40 bytes=64 stride=80 acc
// CHECK-NOT: dram=0x0 rows=40
// CHECK: matmul acc=[[ACC1:0x[0-9a-f]+]] a=[[X0]] w={{.*}} k=16 m=40 n=4{{$}}
// CHECK: matmul acc=[[ACC1]] a=[[X1]] w={{.*}} k=8 m=40 n=4 accumulate
// CHECK: st dram={{.*}} src=[[ACC1]] rows=40 bytes=16 stride=80 acc
// CHECK-NEXT: halt
func.func @main(%x: tensor<40x24xi8>, %xs: tensor<40x1xf32>) -> tensor<40x20xf32> {
  %w = arith.constant dense<3> : tensor<20x24xi8>
  %ws = arith.constant dense<0.5> : tensor<20xf32>
  %b = arith.constant dense<1.0> : tensor<20xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "relu"} : (tensor<40x24xi8>, tensor<40x1xf32>, tensor<20x24xi8>, tensor<20xf32>, tensor<20xf32>) -> tensor<40x20xf32>
  return %y : tensor<40x20xf32>
}
