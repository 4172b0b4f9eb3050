// RUN: %python -m qcomp.targets.npu.dump %s --preset scalesim --stats | filecheck %s

// Output stationary on a 32x32 array: M=40 is two row tiles (32 + 8); K=24 streams in one chunk; the
// weights (N=20 <= 32 columns) are loaded once and stay resident for the second row tile; the two row
// tiles use the two accumulator slots and the two x slots (double buffering); a per-tensor xs ([1]) is
// one 4-byte load per chunk and the epilogue's xs_scalar flag.
// CHECK-LABEL: npu_0:  ; qc.qlinear M=40 K=24 N=20 act=none
// CHECK-NEXT: config rows=32 cols=32{{$}}
// CHECK-NEXT: ld sp={{.*}} rows=1 bytes=4 stride=4
// CHECK: ld sp=[[X0:0x[0-9a-f]+]] dram=0x0 rows=32 bytes=24 stride=24
// CHECK-NEXT: ld sp=[[W:0x[0-9a-f]+]] dram={{.*}} rows=20 bytes=24 stride=24
// CHECK-NEXT: matmul acc=0x0 a=[[X0]] w=[[W]] k=24 m=32 n=20{{$}}
// CHECK-NEXT: epi acc=0x0 {{.*}} m=32 n=20 xs_scalar
// CHECK-NEXT: st dram={{.*}} src=0x0 rows=32 bytes=80 stride=80 acc
// CHECK-NEXT: ld sp={{.*}} rows=1 bytes=4 stride=4
// CHECK-NEXT: ld sp=[[X1:0x[0-9a-f]+]] dram=0x300 rows=8 bytes=24 stride=24
// CHECK-NEXT: matmul acc=0x1000 a=[[X1]] w=[[W]] k=24 m=8 n=20{{$}}
// CHECK: halt
// The cycle report: two folds of 2R + C + K - 2 = 118 array cycles plus the config instruction.
// CHECK: "shape": [40, 24, 20], {{.*}}"compute_cycles": 237,
func.func @main(%x: tensor<40x24xi8>, %xs: tensor<1xf32>) -> tensor<40x20xf32> {
  %w = arith.constant dense<3> : tensor<20x24xi8>
  %ws = arith.constant dense<0.5> : tensor<20xf32>
  %b = arith.constant dense<1.0> : tensor<20xf32>
  %y = "qc.qlinear"(%x, %xs, %w, %ws, %b) {act = "none"} : (tensor<40x24xi8>, tensor<1xf32>, tensor<20x24xi8>, tensor<20xf32>, tensor<20xf32>) -> tensor<40x20xf32>
  return %y : tensor<40x20xf32>
}
