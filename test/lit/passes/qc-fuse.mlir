// RUN: qcomp-opt %s --split-input-file -p qc-fuse | filecheck %s
// RUN: qcomp-opt %s --split-input-file -p 'qc-fuse{norm=false}' | filecheck %s --check-prefix=OFF

// The gate projection of a SiLU-gated MLP takes silu into its epilogue and the up projection the product;
// the two users of one input quantize it once.
// CHECK-LABEL: func.func @gated_mlp
// CHECK: %[[Q:.*]]:2 = "qc.quantize_dynamic"(%arg0)
// CHECK-NOT: qc.quantize_dynamic
// CHECK: %[[G:.*]] = "qc.qlinear"(%[[Q]]#0, %[[Q]]#1, %{{.*}}) {act = "silu"}
// CHECK: %[[U:.*]] = "qc.qlinear_gated"(%[[Q]]#0, %[[Q]]#1, %arg1, %arg2, %arg3, %[[G]]) {act = "none"}
// CHECK-NOT: qc.silu
// CHECK-NOT: qc.mul
// CHECK: return %[[U]]
// OFF-LABEL: func.func @gated_mlp
// OFF: "qc.qlinear_gated"
func.func @gated_mlp(%x: tensor<4x16xf32>, %w: tensor<32x16xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<4x32xf32> {
  %q:2 = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %g = "qc.qlinear"(%q#0, %q#1, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %s = "qc.silu"(%g) : (tensor<4x32xf32>) -> tensor<4x32xf32>
  %r:2 = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %u = "qc.qlinear"(%r#0, %r#1, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %y = "qc.mul"(%s, %u) : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y : tensor<4x32xf32>
}

// -----

// GELU (erf form) folds into the epilogue.
// CHECK-LABEL: func.func @gelu
// CHECK: "qc.qlinear"{{.*}} {act = "gelu"}
// CHECK-NOT: qc.gelu
func.func @gelu(%q: tensor<4x16xi8>, %s: tensor<4x1xf32>, %w: tensor<32x16xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>) -> tensor<4x32xf32> {
  %y = "qc.qlinear"(%q, %s, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %g = "qc.gelu"(%y) {approximate = "none"} : (tensor<4x32xf32>) -> tensor<4x32xf32>
  return %g : tensor<4x32xf32>
}

// -----

// The tanh GELU is not the epilogue's activation, and a result with a second user must stay unfused.
// CHECK-LABEL: func.func @negative_tanh_gelu_and_second_user
// CHECK: %[[Y:.*]] = "qc.qlinear"{{.*}} {act = "none"}
// CHECK: "qc.gelu"(%[[Y]]) {approximate = "tanh"}
// CHECK: %[[Z:.*]] = "qc.qlinear"{{.*}} {act = "none"}
// CHECK: "qc.relu"(%[[Z]])
// CHECK: "qc.add"
func.func @negative_tanh_gelu_and_second_user(%q: tensor<4x16xi8>, %s: tensor<4x1xf32>, %w: tensor<32x16xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %y = "qc.qlinear"(%q, %s, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %g = "qc.gelu"(%y) {approximate = "tanh"} : (tensor<4x32xf32>) -> tensor<4x32xf32>
  %z = "qc.qlinear"(%q, %s, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %r = "qc.relu"(%z) : (tensor<4x32xf32>) -> tensor<4x32xf32>
  %a = "qc.add"(%r, %z) : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  return %g, %a : tensor<4x32xf32>, tensor<4x32xf32>
}

// -----

// A dequantize -> quantize round trip with the same scale is the integer tensor itself.
// CHECK-LABEL: func.func @roundtrip
// CHECK-NOT: qc.dequantize
// CHECK-NOT: "qc.quantize"
// CHECK: return %arg0
func.func @roundtrip(%q: tensor<4x16xi8>) -> tensor<4x16xi8> {
  %s = arith.constant dense<0.05> : tensor<1xf32>
  %t = arith.constant dense<0.05> : tensor<1xf32>
  %f = "qc.dequantize"(%q, %s) {axis = -1 : i64} : (tensor<4x16xi8>, tensor<1xf32>) -> tensor<4x16xf32>
  %r = "qc.quantize"(%f, %t) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %r : tensor<4x16xi8>
}

// -----

// A different scale re-quantizes for real: kept.
// CHECK-LABEL: func.func @negative_roundtrip_other_scale
// CHECK: qc.dequantize
// CHECK: "qc.quantize"
func.func @negative_roundtrip_other_scale(%q: tensor<4x16xi8>) -> tensor<4x16xi8> {
  %s = arith.constant dense<0.05> : tensor<1xf32>
  %t = arith.constant dense<0.1> : tensor<1xf32>
  %f = "qc.dequantize"(%q, %s) {axis = -1 : i64} : (tensor<4x16xi8>, tensor<1xf32>) -> tensor<4x16xf32>
  %r = "qc.quantize"(%f, %t) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  return %r : tensor<4x16xi8>
}

// -----

// A pre-norm block: the RMSNorm feeds only the (deduplicated) quantization of its projections, so the pair
// becomes one op with the norm's eps and the quantization's bits.
// CHECK-LABEL: func.func @rms_norm_into_quantize
// CHECK-NOT: "qc.rms_norm"(
// CHECK: %[[Q:.*]]:2 = "qc.rms_norm_quantize"(%arg0, %arg1) {bits = 8 : i64, eps = 9.99999997E-7 : f32}
// CHECK-NOT: qc.quantize_dynamic
// CHECK: "qc.qlinear"(%[[Q]]#0, %[[Q]]#1
// CHECK: "qc.qlinear"(%[[Q]]#0, %[[Q]]#1
func.func @rms_norm_into_quantize(%x: tensor<4x16xf32>, %g: tensor<16xf32>, %w: tensor<32x16xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %n = "qc.rms_norm"(%x, %g) {eps = 1.0e-06 : f32} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %q:2 = "qc.quantize_dynamic"(%n) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %r:2 = "qc.quantize_dynamic"(%n) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %y = "qc.qlinear"(%q#0, %q#1, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %z = "qc.qlinear"(%r#0, %r#1, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  return %y, %z : tensor<4x32xf32>, tensor<4x32xf32>
}

// -----

// LayerNorm works the same way; with norm=false the pair stays apart.
// CHECK-LABEL: func.func @layer_norm_into_quantize
// CHECK: "qc.layer_norm_quantize"(%arg0, %arg1, %arg1) {bits = 4 : i64, eps = 1.000000e-05 : f64}
// OFF-LABEL: func.func @layer_norm_into_quantize
// OFF: %[[N:.*]] = "qc.layer_norm"
// OFF: "qc.quantize_dynamic"(%[[N]])
func.func @layer_norm_into_quantize(%x: tensor<2x3x16xf32>, %g: tensor<16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>) {
  %n = "qc.layer_norm"(%x, %g, %g) {eps = 1.0e-05 : f64} : (tensor<2x3x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x3x16xf32>
  %q:2 = "qc.quantize_dynamic"(%n) {bits = 4 : i64, granularity = "per_token"} : (tensor<2x3x16xf32>) -> (tensor<2x3x16xi8>, tensor<2x3x1xf32>)
  return %q#0, %q#1 : tensor<2x3x16xi8>, tensor<2x3x1xf32>
}

// -----

// A post-norm block: the LayerNorm output is also the residual, and a per-tensor quantization is not per
// token: neither pair fuses.
// CHECK-LABEL: func.func @negative_norm_with_residual_and_per_tensor
// CHECK: %[[N:.*]] = "qc.layer_norm"
// CHECK: "qc.quantize_dynamic"(%[[N]]) {bits = 8 : i64, granularity = "per_token"}
// CHECK: "qc.add"(%[[N]]
// CHECK: %[[R:.*]] = "qc.rms_norm"
// CHECK: "qc.quantize_dynamic"(%[[R]]) {bits = 8 : i64, granularity = "per_tensor"}
// CHECK-NOT: _quantize"
func.func @negative_norm_with_residual_and_per_tensor(%x: tensor<4x16xf32>, %g: tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x16xf32>, tensor<4x16xi8>) {
  %n = "qc.layer_norm"(%x, %g, %g) {eps = 1.0e-05 : f64} : (tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %q:2 = "qc.quantize_dynamic"(%n) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %a = "qc.add"(%n, %x) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = "qc.rms_norm"(%x, %g) {eps = 1.0e-05 : f64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %p:2 = "qc.quantize_dynamic"(%r) {bits = 8 : i64, granularity = "per_tensor"} : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<1xf32>)
  return %q#0, %a, %p#0 : tensor<4x16xi8>, tensor<4x16xf32>, tensor<4x16xi8>
}

// -----

// torch's SDPA softmax: scores + a [1, 1, S, S] mask, qc.softmax, then the safe-softmax tail (a row whose
// scores are all -inf gives 0) become one qc.masked_softmax; the host generics go.
// CHECK-LABEL: func.func @sdpa_safe_softmax
// CHECK: %[[Y:.*]] = "qc.masked_softmax"(%arg0, %arg1) {masked_rows = "zero"}
// CHECK-NOT: linalg.generic
// CHECK-NOT: qc.softmax
// CHECK: return %[[Y]]
// OFF-LABEL: func.func @sdpa_safe_softmax
// OFF: "qc.softmax"
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#bmask = affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>
#row = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
func.func @sdpa_safe_softmax(%s: tensor<1x2x4x4xf32>, %m: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %ninf = arith.constant 0xFFF0000000000000 : f64
  %true = arith.constant true
  %zeros = arith.constant dense<0.0> : tensor<1x2x4x4xf32>
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %z = linalg.generic {indexing_maps = [#id, #bmask, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %m : tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %p = "qc.softmax"(%z) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %ei = tensor.empty() : tensor<1x2x4x4xi1>
  %eq = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%z : tensor<1x2x4x4xf32>) outs(%ei : tensor<1x2x4x4xi1>) {
  ^bb0(%a: f32, %o: i1):
    %w = arith.extf %a : f32 to f64
    %c = arith.cmpf oeq, %w, %ninf : f64
    linalg.yield %c : i1
  } -> tensor<1x2x4x4xi1>
  %er = tensor.empty() : tensor<1x2x4x1xi1>
  %f = linalg.fill ins(%true : i1) outs(%er : tensor<1x2x4x1xi1>) -> tensor<1x2x4x1xi1>
  %all = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%eq : tensor<1x2x4x4xi1>) outs(%f : tensor<1x2x4x1xi1>) {
  ^bb0(%a: i1, %o: i1):
    %r = arith.andi %a, %o : i1
    linalg.yield %r : i1
  } -> tensor<1x2x4x1xi1>
  %y = linalg.generic {indexing_maps = [#row, #id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%all, %zeros, %p : tensor<1x2x4x1xi1>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%a: i1, %b: f32, %c: f32, %o: f32):
    %r = arith.select %a, %b, %c : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  return %y : tensor<1x2x4x4xf32>
}

// -----

// Without the safe tail the softmax of scores + mask keeps NaN rows ("nan"); a mask that is not x's trailing
// dims (here [1, 2, 1, 4]: broadcast over queries) and a select with a non-zero fill stay as they are.
// CHECK-LABEL: func.func @plain_and_negative_masks
// CHECK: "qc.masked_softmax"(%arg0, %arg1) {masked_rows = "nan"}
// CHECK: linalg.generic
// CHECK: "qc.softmax"
#id2 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#bm2 = affine_map<(d0, d1, d2, d3) -> (0, 0, d2, d3)>
#q2 = affine_map<(d0, d1, d2, d3) -> (0, d1, 0, d3)>
func.func @plain_and_negative_masks(%s: tensor<1x2x4x4xf32>, %m: tensor<1x1x4x4xf32>, %h: tensor<1x2x1x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
  %e = tensor.empty() : tensor<1x2x4x4xf32>
  %z = linalg.generic {indexing_maps = [#id2, #bm2, #id2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %m : tensor<1x2x4x4xf32>, tensor<1x1x4x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %p = "qc.softmax"(%z) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  %z2 = linalg.generic {indexing_maps = [#id2, #q2, #id2], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %h : tensor<1x2x4x4xf32>, tensor<1x2x1x4xf32>) outs(%e : tensor<1x2x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  } -> tensor<1x2x4x4xf32>
  %p2 = "qc.softmax"(%z2) {axis = -1 : i64} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return %p, %p2 : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// A product whose second operand is not a qc.qlinear, or whose qc.qlinear has another user, stays a qc.mul.
// CHECK-LABEL: func.func @negative_gates
// CHECK: %[[Y:.*]] = "qc.qlinear"
// CHECK: "qc.mul"(%[[Y]], %arg5)
// CHECK: "qc.mul"(%arg5, %[[Y]])
func.func @negative_gates(%q: tensor<4x16xi8>, %s: tensor<4x1xf32>, %w: tensor<32x16xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>, %g: tensor<4x32xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %y = "qc.qlinear"(%q, %s, %w, %ws, %b) {act = "none"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<32x16xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x32xf32>
  %a = "qc.mul"(%y, %g) : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  %c = "qc.mul"(%g, %y) : (tensor<4x32xf32>, tensor<4x32xf32>) -> tensor<4x32xf32>
  return %a, %c : tensor<4x32xf32>, tensor<4x32xf32>
}
