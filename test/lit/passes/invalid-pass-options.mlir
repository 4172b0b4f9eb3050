// Bad pass options are rejected before any input is read, with one `qcomp-opt: error:` line that
// names the pass and the option, and no output.
// RUN: not qcomp-opt %s -p 'qc-rotate{seed=-1}' 2>&1 | filecheck %s --check-prefix=SEED
// RUN: not qcomp-opt %s -p 'qc-quantize{wbits=9}' 2>&1 | filecheck %s --check-prefix=WBITS
// RUN: not qcomp-opt %s -p 'qc-quantize{abits=4}' 2>&1 | filecheck %s --check-prefix=ABITS
// RUN: not qcomp-opt %s -p 'qc-quantize{granularity=per_channel}' 2>&1 | filecheck %s --check-prefix=GRAN
// RUN: not qcomp-opt %s -p 'qc-quantize{bits=8}' 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not qcomp-opt %s -p 'canonicalize,qc-quantize{wbits=eight}' 2>&1 | filecheck %s --check-prefix=TYPE
// RUN: not qcomp-opt %s -p 'qc-outline-host-ops{fast=1}' 2>&1 | filecheck %s --check-prefix=NOOPTS
// RUN: not qcomp-opt %s -p 'qc-lower-to-linalg{fast=1}' 2>&1 | filecheck %s --check-prefix=LOWER
// RUN: not qcomp-opt %s -p 'qc-quantize{search=mse}' 2>&1 | filecheck %s --check-prefix=SEARCH
// RUN: not qcomp-opt %s -p 'qc-quantize{abits=16,static=true}' 2>&1 | filecheck %s --check-prefix=STATIC
// RUN: not qcomp-opt %s -p 'qc-quantize{abits=16,group=-1}' 2>&1 | filecheck %s --check-prefix=NEGGROUP
// RUN: not qcomp-opt %s -p 'qc-smooth{alpha=1.5}' 2>&1 | filecheck %s --check-prefix=ALPHA
// RUN: not qcomp-opt %s -p 'qc-split-outliers{threshold=0}' 2>&1 | filecheck %s --check-prefix=THRESHOLD
// RUN: not qcomp-opt %s -p 'qc-rotate{kind=givens}' 2>&1 | filecheck %s --check-prefix=KIND
// RUN: not qcomp-opt %s -p 'qc-awq{grid=1}' 2>&1 | filecheck %s --check-prefix=GRID
// RUN: not qcomp-opt %s -p 'qc-reorder-channels{outlier_bits=9}' 2>&1 | filecheck %s --check-prefix=OUTLIERBITS

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
// UNKNOWN: {{^}}qcomp-opt: error: qc-quantize: unknown option 'bits' (options: wbits, abits, granularity, group, static, sym, search, wformat, aformat){{$}}
// UNKNOWN-NOT: {{.}}

// A value of the wrong type, after an upstream pass.
// TYPE: {{^}}qcomp-opt: error: qc-quantize: option 'wbits' expects int, got 'eight'{{$}}
// TYPE-NOT: {{.}}

// A pass without options.
// NOOPTS: {{^}}qcomp-opt: error: qc-outline-host-ops: unknown option 'fast' (options: none){{$}}
// NOOPTS-NOT: {{.}}

// The CPU lowering's options are the target's code generation switches.
// LOWER: {{^}}qcomp-opt: error: qc-lower-to-linalg: unknown option 'fast' (options: vectorize, row_fusion){{$}}
// LOWER-NOT: {{.}}

// The MSE range search chooses group ranges: weight-only or grouped (qc.qlinear_grouped) layers, not per channel.
// SEARCH: {{^}}qcomp-opt: error: qc-quantize: search=mse applies to weight-only or grouped (group > 0) quantization{{$}}

// Static scales quantize activations, so weight-only (abits=16) has none.
// STATIC: {{^}}qcomp-opt: error: qc-quantize: static activation scales need abits=8{{$}}

// A negative group size.
// NEGGROUP: {{^}}qcomp-opt: error: qc-quantize: group must be >= 0, got -1{{$}}

// SmoothQuant's migration strength outside [0, 1].
// ALPHA: {{^}}qcomp-opt: error: qc-smooth: alpha must be in [0, 1], got 1.5{{$}}
// ALPHA-NOT: {{.}}

// A zero outlier threshold would make every channel an outlier (the integer 0 is read as a float).
// THRESHOLD: {{^}}qcomp-opt: error: qc-split-outliers: threshold must be > 0, got 0.0{{$}}
// THRESHOLD-NOT: {{.}}

// An unknown rotation kind.
// KIND: {{^}}qcomp-opt: error: qc-rotate: kind must be hadamard or random, got 'givens'{{$}}
// KIND-NOT: {{.}}

// The AWQ grid needs at least r = 0 and one other exponent.
// GRID: {{^}}qcomp-opt: error: qc-awq: grid must be in [2, 1000], got 1{{$}}
// GRID-NOT: {{.}}

// Outlier groups are quantized to 2..8 bits (0 disables the split).
// OUTLIERBITS: {{^}}qcomp-opt: error: qc-reorder-channels: outlier_bits must be 0 or in [2, 8], got 9{{$}}
// OUTLIERBITS-NOT: {{.}}

// A negative rotation seed.
// SEED: {{^}}qcomp-opt: error: qc-rotate: seed must be >= 0, got -1{{$}}
// SEED-NOT: {{.}}

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
