// qc-assign-precision with bad options or a budget it cannot price: one line each, no IR, no traceback.
// RUN: not qcomp-opt %s -p 'qc-assign-precision{budget_kind=latency,budget=5,sensitivity=hessian}' 2>&1 | filecheck %s --check-prefix=NOTARGET
// RUN: not qcomp-opt %s -p 'qc-assign-precision{budget_kind=joules}' 2>&1 | filecheck %s --check-prefix=KIND
// RUN: not qcomp-opt %s -p 'qc-assign-precision{candidates=w4a16:w8a8g128}' 2>&1 | filecheck %s --check-prefix=CAND

// A latency budget needs a cost model: qcomp.compile marks the module with qc.target; plain IR has none.
// NOTARGET: {{^}}error: qc-assign-precision{budget_kind=latency}: no target to price latency: set the target option (e.g. target=cpu) or compile with qcomp.compile, which marks the module with qc.target{{$}}
// NOTARGET-NOT: module
// KIND: {{^}}qcomp-opt: error: qc-assign-precision: budget_kind must be one of avg_wbits, bytes, latency, arrays, energy, got 'joules'{{$}}
// CAND: {{^}}qcomp-opt: error: qc-assign-precision: candidate 'w8a8g128' must be wNaM[gG] with N in 2..8, M in 8, 16 (G only for a16){{$}}
func.func @negative_layer(%x: tensor<1x2xf32>) -> tensor<1x1xf32> {
  %w = arith.constant dense<[[1.0, 0.3]]> : tensor<1x2xf32>
  %b = arith.constant dense<0.0> : tensor<1xf32>
  %y = "qc.linear"(%x, %w, %b) {qc.act_absmax = dense<[1.0, 1.0]> : tensor<2xf32>, qc.act_sample = dense<[[1.0, 1.0]]> : tensor<1x2xf32>} : (tensor<1x2xf32>, tensor<1x2xf32>, tensor<1xf32>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}
