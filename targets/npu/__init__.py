"""NPU target: a parametrised systolic-array accelerator (code generation and a cycle-level, bit-exact simulator)."""
