// RUN: qcomp-opt %s --split-input-file -p qc-lower-to-linalg | filecheck %s

// qc.conv2d with padding: the input is zero-padded by tensor.pad, convolved by
// linalg.conv_2d_nchw_fchw with the op's strides/dilations, and the bias is added along O.
// CHECK-DAG: #[[BIAS:.*]] = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @conv2d_pad_stride
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x5x5xf32>, %[[W:.*]]: tensor<3x2x3x3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[P:.*]] = tensor.pad %[[X]] low[0, 0, 1, 2] high[0, 0, 1, 2]
// CHECK: tensor.yield %[[ZERO]] : f32
// CHECK: } : tensor<1x2x5x5xf32> to tensor<1x2x7x9xf32>
// CHECK: %[[C:.*]] = linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<[2, 3]> : tensor<2xi64>} ins(%[[P]], %[[W]] : tensor<1x2x7x9xf32>, tensor<3x2x3x3xf32>) outs(%{{.*}} : tensor<1x3x3x3xf32>)
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[BIAS]], #{{.*}}]{{.*}} ins(%[[C]], %[[B]] : tensor<1x3x3x3xf32>, tensor<3xf32>)
// CHECK: arith.addf
// CHECK: return %[[Y]]
func.func @conv2d_pad_stride(%x: tensor<1x2x5x5xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 2, 3>, padding = array<i64: 1, 2>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// Without padding there is no tensor.pad; dilation is passed through.
// CHECK-LABEL: func.func @conv2d_dilated_no_pad
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x7x7xf32>,
// CHECK-NOT: tensor.pad
// CHECK: linalg.conv_2d_nchw_fchw {dilations = dense<2> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>} ins(%[[X]], %{{.*}} : tensor<1x2x7x7xf32>, tensor<3x2x3x3xf32>) outs(%{{.*}} : tensor<1x3x3x3xf32>)
func.func @conv2d_dilated_no_pad(%x: tensor<1x2x7x7xf32>, %w: tensor<3x2x3x3xf32>, %b: tensor<3xf32>) -> tensor<1x3x3x3xf32> {
  %y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 2, 2>, groups = 1 : i64} : (tensor<1x2x7x7xf32>, tensor<3x2x3x3xf32>, tensor<3xf32>) -> tensor<1x3x3x3xf32>
  return %y : tensor<1x3x3x3xf32>
}

// -----

// qc.qconv2d: an i8 input padded with integer 0, an i8 x i8 -> i32 conv, then the f32 epilogue
// (f32(acc) * xs[0]) * ws[o] + b[o].
// CHECK-DAG: #[[XS:.*]] = affine_map<(d0, d1, d2, d3) -> (0)>
// CHECK-DAG: #[[PER_O:.*]] = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-LABEL: func.func @qconv2d
// CHECK-SAME: (%[[XQ:.*]]: tensor<1x2x5x5xi8>, %[[XSV:.*]]: tensor<1xf32>, %[[WQ:.*]]: tensor<3x2x3x3xi8>, %[[WS:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[P:.*]] = tensor.pad %[[XQ]] low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: tensor.yield %{{.*}} : i8
// CHECK: } : tensor<1x2x5x5xi8> to tensor<1x2x7x7xi8>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : i32) outs(%{{.*}} : tensor<1x3x5x5xi32>)
// CHECK: %[[ACC:.*]] = linalg.conv_2d_nchw_fchw {{.*}} ins(%[[P]], %[[WQ]] : tensor<1x2x7x7xi8>, tensor<3x2x3x3xi8>) outs(%[[Z]] : tensor<1x3x5x5xi32>)
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[XS]], #[[PER_O]], #[[PER_O]], #{{.*}}]{{.*}} ins(%[[ACC]], %[[XSV]], %[[WS]], %[[B]] : tensor<1x3x5x5xi32>, tensor<1xf32>, tensor<3xf32>, tensor<3xf32>)
// CHECK: arith.sitofp %{{.*}} : i32 to f32
// CHECK: arith.mulf
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @qconv2d(%xq: tensor<1x2x5x5xi8>, %xs: tensor<1xf32>, %wq: tensor<3x2x3x3xi8>, %ws: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<1x3x5x5xf32> {
  %y = "qc.qconv2d"(%xq, %xs, %wq, %ws, %b) {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x2x5x5xi8>, tensor<1xf32>, tensor<3x2x3x3xi8>, tensor<3xf32>, tensor<3xf32>) -> tensor<1x3x5x5xf32>
  return %y : tensor<1x3x5x5xf32>
}
