// Bad pass options are rejected before any input is read, with one `qcomp-opt: error:` line that
// names the pass and the option, and no output.
// RUN: not qcomp-opt %s -p 'qc-quantize{wbits=9}' 2>&1 | filecheck %s --check-prefix=WBITS
// RUN: not qcomp-opt %s -p 'qc-quantize{abits=4}' 2>&1 | filecheck %s --check-prefix=ABITS
// RUN: not qcomp-opt %s -p 'qc-quantize{granularity=per_channel}' 2>&1 | filecheck %s --check-prefix=GRAN
// RUN: not qcomp-opt %s -p 'qc-quantize{bits=8}' 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not qcomp-opt %s -p 'canonicalize,qc-quantize{wbits=eight}' 2>&1 | filecheck %s --check-prefix=TYPE
// RUN: not qcomp-opt %s -p 'qc-lower-to-linalg{fast=1}' 2>&1 | filecheck %s --check-prefix=NOOPTS
// RUN: not qcomp-opt %s -p 'qc-quantize{group=128}' 2>&1 | filecheck %s --check-prefix=GROUP
// RUN: not qcomp-opt %s -p 'qc-quantize{abits=16,static=true}' 2>&1 | filecheck %s --check-prefix=STATIC
// RUN: not qcomp-opt %s -p 'qc-quantize{abits=16,group=-1}' 2>&1 | filecheck %s --check-prefix=NEGGROUP

// wbits outside [2, 8].
// WBITS-NOT: Traceback
// WBITS: {{^}}qcomp-opt: error: qc-quantize: wbits must be in [2, 8], got 9{{$}}
// WBITS-NOT: {{.}}

// abits other than 8 or 16.
// ABITS: {{^}}qcomp-opt: error: qc-quantize: abits=4 is not supported yet (8, or 16 for weight-only){{$}}
// ABITS-NOT: {{.}}

// An unknown granularity.
// GRAN: {{^}}qcomp-opt: error: qc-quantize: granularity must be per_token or per_tensor, got 'per_channel'{{$}}
// GRAN-NOT: {{.}}

// An option the pass does not have lists the ones it has.
// UNKNOWN: {{^}}qcomp-opt: error: qc-quantize: unknown option 'bits' (options: wbits, abits, granularity, group, static){{$}}
// UNKNOWN-NOT: {{.}}

// A value of the wrong type, after an upstream pass.
// TYPE: {{^}}qcomp-opt: error: qc-quantize: option 'wbits' expects int, got 'eight'{{$}}
// TYPE-NOT: {{.}}

// A pass without options.
// NOOPTS: {{^}}qcomp-opt: error: qc-lower-to-linalg: unknown option 'fast' (options: none){{$}}
// NOOPTS-NOT: {{.}}

// Groups are for weight-only quantization: qc.qlinear has one weight scale per output channel.
// GROUP: {{^}}qcomp-opt: error: qc-quantize: group applies to weight-only quantization (abits=16){{$}}

// Static scales quantize activations, so weight-only (abits=16) has none.
// STATIC: {{^}}qcomp-opt: error: qc-quantize: static activation scales need abits=8{{$}}

// A negative group size.
// NEGGROUP: {{^}}qcomp-opt: error: qc-quantize: group must be >= 0, got -1{{$}}

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
