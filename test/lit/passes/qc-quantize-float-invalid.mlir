// RUN: not qcomp-opt %s -p 'qc-quantize-float{wformat=fp8,aformat=e4m3:f32:tensor,static=true}' 2>&1 | filecheck %s
// RUN: not qcomp-opt %s -p 'qc-quantize-float{wformat=fp9}' 2>&1 | filecheck %s --check-prefix=FMT
// RUN: not qcomp-opt %s -p 'qc-quantize-float{wformat=fp8,aformat=fp8,static=true}' 2>&1 | filecheck %s --check-prefix=STATIC
// RUN: not qcomp-opt %s -p 'qc-quantize-float{wformat=fp8,gptq=true}' 2>&1 | filecheck %s --check-prefix=GPTQ
// RUN: not qcomp-opt %s -p 'qc-quantize-float{wformat=fp8,gptq=true,damp=0}' 2>&1 | filecheck %s --check-prefix=DAMP

// A static activation scale comes from calibration: an uncalibrated layer is an error at its location.
// CHECK: qc-quantize-float{static=true}: 'qc.linear' has no 'qc.act_absmax' attribute (calibrate the model first)
// FMT: qc-quantize-float: wformat: 'fp9' is not a format
// STATIC: static=true needs an aformat with one f32 scale per tensor
// GPTQ rounds with the layer's input Hessian (or activation rows) from calibration.
// GPTQ: qc-quantize-float{gptq=true}: 'qc.linear' has no 'qc.act_hessian' or 'qc.act_sample' (calibrate the model first)
// DAMP: qc-quantize-float: damp must be > 0, got 0
func.func @uncalibrated(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<1.0> : tensor<2x4xf32>
  %b = arith.constant dense<0.0> : tensor<2xf32>
  %y = "qc.linear"(%x, %w, %b) : (tensor<3x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
