// An unknown pass name (ours or upstream) and bad upstream options are one-line errors from the
// pipeline parser, reported before the input is processed.
// RUN: not qcomp-opt %s -p 'qc-frobnicate' 2>&1 | filecheck %s --check-prefix=OURS
// RUN: not qcomp-opt %s -p 'qc-quantize,cse,no-such-pass' 2>&1 | filecheck %s --check-prefix=UPSTREAM
// RUN: not qcomp-opt %s -p 'canonicalize{bogus=1}' 2>&1 | filecheck %s --check-prefix=OPTION
// RUN: not qcomp-opt %s -p 'qc-quantize{wbits=8' 2>&1 | filecheck %s --check-prefix=BRACKET
// RUN: not qcomp-opt %s -p 'func.func(qc-quantize)' 2>&1 | filecheck %s --check-prefix=NESTED

// A misspelt qc- pass.
// OURS: {{^}}qcomp-opt: error: unknown pass or bad options in 'qc-frobnicate': {{.*}}'qc-frobnicate' does not refer to a registered pass or pass pipeline{{$}}
// OURS-NOT: {{.}}

// An unknown upstream pass after valid ones: nothing runs, nothing is printed.
// UPSTREAM: {{^}}qcomp-opt: error: unknown pass or bad options in {{.*}}'no-such-pass' does not refer to a registered pass or pass pipeline{{$}}
// UPSTREAM-NOT: {{.}}

// A bad option of an upstream pass.
// OPTION: {{^}}qcomp-opt: error: unknown pass or bad options in 'canonicalize{bogus=1}': {{.*}}no such option bogus{{$}}
// OPTION-NOT: {{.}}

// An unclosed option brace.
// BRACKET: {{^}}qcomp-opt: error: unbalanced brackets in pipeline 'qc-quantize{wbits=8'{{$}}
// BRACKET-NOT: {{.}}

// qc passes are module passes run by qcomp's pipeline runner; MLIR's parser, which handles
// everything nested, does not know them.
// NESTED: {{^}}qcomp-opt: error: unknown pass or bad options in 'func.func(qc-quantize)': {{.*}}'qc-quantize' does not refer to a registered pass or pass pipeline{{$}}
// NESTED-NOT: {{.}}

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "qc.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
