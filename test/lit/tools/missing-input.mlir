// A missing input file is a one-line error naming the file, with a non-zero exit.
// RUN: not qcomp-opt %t.does-not-exist.mlir 2>&1 | filecheck %s

// CHECK: {{^}}qcomp-opt: error: cannot read {{.*}}.does-not-exist.mlir: No such file or directory{{$}}
// CHECK-NOT: {{.}}
