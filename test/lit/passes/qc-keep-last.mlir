// qc-keep-last: the last linear layer (an LM head) keeps float or gets its own integer precision; then
// qc-quantize quantizes every other layer with its options.
// RUN: qcomp-opt %s -p 'qc-keep-last,qc-quantize{wbits=4,abits=16,group=2}' | filecheck %s
// RUN: qcomp-opt %s -p 'qc-keep-last{precision=w8a16},qc-quantize{wbits=4,abits=16,group=2}' | filecheck %s --check-prefix=W8
// RUN: not qcomp-opt %s -p 'qc-keep-last{precision=nvfp4-w4a16}' 2>&1 | filecheck %s --check-prefix=FLOAT
// RUN: not qcomp-opt %s -p 'qc-keep-last{precision=w9a16}' 2>&1 | filecheck %s --check-prefix=BAD

// The first layer becomes 4-bit codes in groups of 2; the head stays a float qc.linear marked fp32.
// CHECK-LABEL: func.func @two
// CHECK: "qc.wlinear"({{.*}}) {bits = 4 : i64, group = 2 : i64, qc.precision = "w4a16"}
// CHECK: %[[Y:.*]] = "qc.linear"({{.*}}) {qc.precision = "fp32"} : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK: return %[[Y]]
// With precision=w8a16 the head gets 8-bit codes, one scale per output channel (group = K = 2):
// W8-LABEL: func.func @two
// W8: "qc.wlinear"({{.*}}) {bits = 4 : i64, group = 2 : i64, qc.precision = "w4a16"}
// W8: "qc.wlinear"({{.*}}) {bits = 8 : i64, group = 2 : i64, qc.precision = "w8a16"}
// FLOAT: qc-keep-last: precision must be fp32 or an integer precision, got 'nvfp4-w4a16'
// BAD: qc-keep-last: precision
func.func @two(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1.27, -0.5, 0.0, 0.7], [-2.54, 1.0, 0.5, 0.26]]> : tensor<2x4xf32>
  %b = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %h = "qc.linear"(%x, %w, %b) : (tensor<4x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  %w2 = arith.constant dense<[[1.0, -0.5], [0.25, 2.0]]> : tensor<2x2xf32>
  %y = "qc.linear"(%h, %w2, %b) : (tensor<4x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
