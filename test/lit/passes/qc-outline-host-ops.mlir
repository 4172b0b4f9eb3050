// RUN: qcomp-opt %s --split-input-file -p qc-outline-host-ops | filecheck %s

// Two identical host ops share one outlined function; their tensor.empty moves inside it.
// CHECK-LABEL: func.func @main
// CHECK-NOT: linalg.generic
// CHECK-NOT: tensor.empty
// CHECK: %[[A:.*]] = call @[[K:__host_[0-9]+]](%arg0) {no_inline}
// CHECK: %[[B:.*]] = call @[[K]](%[[A]]) {no_inline}
// CHECK: return %[[B]]
// CHECK: func.func private @[[K]](%[[X:.*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK: tensor.empty() : tensor<4xf32>
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK-NOT: func.func private
#id = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e0 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %e1 = tensor.empty() : tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %b : tensor<4xf32>
}

// -----

// Different bodies get different functions.
// CHECK-LABEL: func.func @main
// CHECK: call @[[E:__host_[0-9]+]](%arg0)
// CHECK: call @[[L:__host_[0-9]+]](
// CHECK: func.func private @[[E]]
// CHECK: math.exp
// CHECK: func.func private @[[L]]
// CHECK: math.log
#id = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e0 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %e1 = tensor.empty() : tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%a : tensor<4xf32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.log %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %b : tensor<4xf32>
}

// -----

// An op whose region uses a value defined outside it stays in place.
// CHECK-LABEL: func.func @main
// CHECK: linalg.generic
// CHECK-NOT: call
#id = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<4xf32>, %s: f32) -> tensor<4xf32> {
  %e0 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.mulf %in, %s : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %a : tensor<4xf32>
}

// -----

// A module without @main is left alone.
// CHECK-LABEL: func.func @negative_not_main
// CHECK: linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @negative_not_main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e0 = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %a : tensor<4xf32>
}

// -----

// One tensor.empty shared by two ops (as CSE leaves it): each function re-creates it inside, so neither
// result is copied out of a read-only argument after bufferization, and the shared empty goes.
// CHECK-LABEL: func.func @main
// CHECK-NOT: tensor.empty
// CHECK: call @[[K:__host_[0-9]+]](%arg0) {no_inline}
// CHECK: func.func private @[[K]](%{{.*}}: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: tensor.empty() : tensor<4xf32>
#id = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = math.sqrt %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}
