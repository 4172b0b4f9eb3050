// qc-assign-precision: per-layer precision by calibrated sensitivity, exact under the budget.
// Two one-row layers with K = 2, per-channel weights (group=0): a w4 weight costs 4 + 32/2 = 20 bits,
// a w8 one 24 bits (its f32 scale included). The sample x = [1, 1]:
//   @a: W = [1, 0.3]: w4 rounds 0.3 -> 2/7 (error 0.0143), w8 -> 38/127 (0.0008)
//   @b: W = [1, 0.5]: w4 rounds 0.5 -> 4/7 (error 0.0714), w8 -> 64/127 (0.0039)
// so 8 bits help @b 25x more than @a (sensitivity=hessian: the local errors alone).
// RUN: qcomp-opt %s -p 'qc-assign-precision{candidates=w4a16:w8a16,budget=22.0,group=0,sensitivity=hessian}' | filecheck %s
// RUN: qcomp-opt %s -p 'qc-assign-precision{candidates=w4a16:w8a16,budget=20.0,group=0,sensitivity=hessian}' | filecheck %s --check-prefix=TIGHT
// RUN: not qcomp-opt %s -p 'qc-assign-precision{candidates=w4a16:w8a16,budget=19.0,group=0,sensitivity=hessian}' 2>&1 | filecheck %s --check-prefix=LOW

// 22 bits/weight average = 88 bits for the 4 weights: room for exactly one w8 layer, and it goes to @b.
// CHECK: module attributes {qc.precision_plan = {avg_wbits = 2.200000e+01 : f64, budget = 2.200000e+01 : f64, budget_kind = "avg_wbits", bytes = 11 : i64
// CHECK-LABEL: func.func @layers
// CHECK: "qc.linear"(%{{.*}}) {qc.abits = 16 : i64, {{.*}}qc.wbits = 4 : i64, qc.wgroup = 0 : i64}
// CHECK: "qc.linear"(%{{.*}}) {qc.abits = 16 : i64, {{.*}}qc.wbits = 8 : i64, qc.wgroup = 0 : i64}

// 20 bits/weight: everything at 4 bits, exactly at the budget.
// TIGHT: avg_wbits = 2.000000e+01 : f64
// TIGHT-NOT: qc.wbits = 8

// Below the cheapest assignment: one line, no IR.
// LOW: {{^}}error: qc-assign-precision: budget 19 avg_wbits is below the cheapest assignment (20 avg_wbits, scales included){{$}}
// LOW-NOT: module
func.func @layers(%x: tensor<1x2xf32>) -> (tensor<1x1xf32>, tensor<1x1xf32>) {
  %wa = arith.constant dense<[[1.0, 0.3]]> : tensor<1x2xf32>
  %wb = arith.constant dense<[[1.0, 0.5]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %ya = "qc.linear"(%x, %wa, %b) {qc.act_absmax = dense<[1.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 1.0]]> : tensor<1x2xf32>} : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  %yb = "qc.linear"(%x, %wb, %b) {qc.act_absmax = dense<[1.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 1.0]]> : tensor<1x2xf32>} : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  return %ya, %yb : tensor<1x1xf32>, tensor<1x1xf32>
}
