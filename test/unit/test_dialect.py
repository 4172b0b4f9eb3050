"""The qc dialect: op registry, docstrings and references, and verifiers that report located diagnostics."""

import re

import pytest
from qcomp.dialects import new_context, op_classes, reference_of
from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir

ALL_OPS = {
    "qc.linear",
    "qc.matmul",
    "qc.conv2d",
    "qc.embedding",
    "qc.layer_norm",
    "qc.rms_norm",
    "qc.softmax",
    "qc.masked_softmax",
    "qc.gelu",
    "qc.silu",
    "qc.relu",
    "qc.add",
    "qc.mul",
    "qc.channel_scale",
    "qc.channel_permute",
    "qc.quantize",
    "qc.quantize_dynamic",
    "qc.rms_norm_quantize",
    "qc.layer_norm_quantize",
    "qc.dequantize",
    "qc.requantize",
    "qc.qlinear",
    "qc.qlinear_gated",
    "qc.qlinear_grouped",
    "qc.qlinear_grouped_asym",
    "qc.qmatmul",
    "qc.qconv2d",
    "qc.wlinear",
    "qc.wlinear_asym",
    "qc.kv_attention",
    "qc.kv_attention_int8",
    "qc.fp_wlinear",
    "qc.fp_fake_quant",
    "qc.fp_fake_quant_static",
}


def test_op_classes_lists_every_op():
    assert set(op_classes()) == ALL_OPS


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_op_class_has_docstring_and_reference(name):
    cls = op_classes()[name]
    assert cls.__doc__
    assert len(cls.__doc__.strip()) > 10
    assert callable(cls.reference)
    # the reference is the function of the same name in qcomp.dialects.reference
    assert reference_of(name) is getattr(ref, name[len("qc.") :])


VALID = """
func.func @main(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>, %g: tensor<16xf32>,
                %a3: tensor<2x4x16xf32>, %b3: tensor<2x16x3xf32>, %img: tensor<1x3x8x8xf32>,
                %k: tensor<5x3x3x3xf32>, %kb: tensor<5xf32>, %ids: tensor<2x3xi64>, %s1: tensor<1xf32>,
                %xq: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %wq: tensor<8x16xi8>, %acc: tensor<4x16xi32>,
                %aq: tensor<2x4x16xi8>, %as: tensor<2x4x1xf32>, %bq: tensor<2x16x3xi8>, %bs: tensor<2x1x3xf32>,
                %iq: tensor<1x3x8x8xi8>, %kq: tensor<5x3x3x3xi8>, %wgs: tensor<8x4xf32>,
                %aq4: tensor<1x4x2x16xf32>, %ak4: tensor<1x2x2x16xf32>, %kc: tensor<3x1x2x16x32xf32>,
                %vc: tensor<3x1x2x32x16xf32>, %pos: tensor<1xi64>, %kc8: tensor<3x1x2x16x32xi8>,
                %vc8: tensor<3x1x2x32x16xi8>, %ks8: tensor<3x1x2x1x64xi8>,
                %vs8: tensor<3x1x2x64xi8>, %wgz: tensor<8x4xi8>) {
  %0 = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %1 = "qc.matmul"(%a3, %b3) : (tensor<2x4x16xf32>, tensor<2x16x3xf32>) -> tensor<2x4x3xf32>
  %2 = "qc.conv2d"(%img, %k, %kb)
      {stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64}
      : (tensor<1x3x8x8xf32>, tensor<5x3x3x3xf32>, tensor<5xf32>) -> tensor<1x5x4x4xf32>
  %3 = "qc.embedding"(%x, %ids) : (tensor<4x16xf32>, tensor<2x3xi64>) -> tensor<2x3x16xf32>
  %4 = "qc.layer_norm"(%x, %g, %g)
      {eps = 1.0e-05 : f64}
      : (tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %5 = "qc.rms_norm"(%x, %g) {eps = 1.0e-06 : f64} : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %6 = "qc.softmax"(%x) {axis = -1 : i64} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %7 = "qc.gelu"(%x) {approximate = "tanh"} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %8 = "qc.silu"(%x) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %9 = "qc.relu"(%x) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %10 = "qc.add"(%x, %x) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %11 = "qc.mul"(%x, %x) : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
  %12 = "qc.channel_scale"(%x, %g) : (tensor<4x16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %13 = "qc.channel_permute"(%b) {perm = array<i64: 7, 6, 5, 4, 3, 2, 1, 0>} : (tensor<8xf32>) -> tensor<8xf32>
  %14 = "qc.quantize"(%x, %s1)
      {bits = 8 : i64, axis = -1 : i64}
      : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>
  %15:2 = "qc.quantize_dynamic"(%x)
      {bits = 8 : i64, granularity = "per_token"}
      : (tensor<4x16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %16 = "qc.dequantize"(%wq, %b) {axis = 0 : i64} : (tensor<8x16xi8>, tensor<8xf32>) -> tensor<8x16xf32>
  %17 = "qc.requantize"(%acc, %g)
      {bits = 4 : i64, axis = 1 : i64}
      : (tensor<4x16xi32>, tensor<16xf32>) -> tensor<4x16xi8>
  %18 = "qc.qlinear"(%xq, %xs, %wq, %b, %b)
      {act = "silu"}
      : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %19 = "qc.qmatmul"(%aq, %as, %bq, %bs)
      : (tensor<2x4x16xi8>, tensor<2x4x1xf32>, tensor<2x16x3xi8>, tensor<2x1x3xf32>) -> tensor<2x4x3xf32>
  %20 = "qc.qconv2d"(%iq, %s1, %kq, %kb, %kb)
      {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64}
      : (tensor<1x3x8x8xi8>, tensor<1xf32>, tensor<5x3x3x3xi8>, tensor<5xf32>, tensor<5xf32>) -> tensor<1x5x6x6xf32>
  %21 = "qc.wlinear"(%x, %wq, %wgs, %b)
      {bits = 8 : i64, group = 4 : i64}
      : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %28 = "qc.wlinear_asym"(%x, %wq, %wgs, %wgz, %b)
      {bits = 8 : i64, group = 4 : i64}
      : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x4xf32>, tensor<8x4xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  %25 = "qc.qlinear_gated"(%xq, %xs, %wq, %b, %b, %0) {act = "none"}
      : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8xf32>, tensor<8xf32>, tensor<4x8xf32>)
      -> tensor<4x8xf32>
  %24 = "qc.masked_softmax"(%a3, %a3) {masked_rows = "zero"}
      : (tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  %22:2 = "qc.rms_norm_quantize"(%x, %g) {eps = 1.0e-06 : f64, bits = 8 : i64}
      : (tensor<4x16xf32>, tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %23:2 = "qc.layer_norm_quantize"(%x, %g, %g) {eps = 1.0e-05 : f64, bits = 8 : i64}
      : (tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x16xi8>, tensor<4x1xf32>)
  %26 = "qc.kv_attention"(%aq4, %ak4, %ak4, %kc, %vc, %pos) {layer = 2 : i64, scale = 0.25 : f64, window = 0 : i64}
      : (tensor<1x4x2x16xf32>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>, tensor<3x1x2x16x32xf32>,
         tensor<3x1x2x32x16xf32>, tensor<1xi64>) -> tensor<1x2x4x16xf32>
  %27 = "qc.kv_attention_int8"(%aq4, %ak4, %ak4, %kc8, %vc8, %ks8, %vs8, %pos)
      {layer = 0 : i64, scale = 0.25 : f64, window = 8 : i64}
      : (tensor<1x4x2x16xf32>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>, tensor<3x1x2x16x32xi8>,
         tensor<3x1x2x32x16xi8>, tensor<3x1x2x1x64xi8>, tensor<3x1x2x64xi8>, tensor<1xi64>) -> tensor<1x2x4x16xf32>
  %29 = "qc.fp_wlinear"(%x, %wq, %wgs, %b) {format = "e4m3:f32:4", group = 4 : i64}
      : (tensor<4x16xf32>, tensor<8x16xi8>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %30 = "qc.fp_fake_quant"(%x) {format = "nvfp4"} : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %31 = "qc.fp_fake_quant_static"(%x, %s1) {format = "fp8"} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xf32>
  %32 = "qc.qlinear_grouped"(%xq, %xs, %wq, %wgs, %b) {group = 4 : i64, bits = 4 : i64, act = "none"}
      : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %33 = "qc.qlinear_grouped_asym"(%xq, %xs, %wq, %wgs, %wgz, %b) {group = 4 : i64, bits = 4 : i64, act = "none"}
      : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, tensor<8x4xf32>, tensor<8x4xi8>, tensor<8xf32>)
        -> tensor<4x8xf32>
  return
}
"""


def test_valid_module_with_every_op_parses():
    module = ir.Module.parse(VALID, new_context())
    names = set()

    def visit(op):
        names.add(op.name)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    assert ALL_OPS <= names


def _func(op_line: str, args: str) -> str:
    # line 1 a comment, line 2 the func, line 3 the op under test
    return f"// negative case\nfunc.func @f({args}) {{\n  {op_line}\n  return\n}}\n"


BAD = [
    # (args, op line, problem text)
    (
        "%x: tensor<4x16xf32>, %w: tensor<8x15xf32>, %b: tensor<8xf32>",
        '%y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x15xf32>, tensor<8xf32>) -> tensor<4x8xf32>',
        "input features [16] do not match weight K=[15]",
    ),
    (
        "%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<7xf32>",
        '%y = "qc.linear"(%x, %w, %b) : (tensor<4x16xf32>, tensor<8x16xf32>, tensor<7xf32>) -> tensor<4x8xf32>',
        "bias shape [7] must be [N] = [8]",
    ),
    (
        "%a: tensor<2x4x16xf32>, %b: tensor<3x16x3xf32>",
        '%y = "qc.matmul"(%a, %b) : (tensor<2x4x16xf32>, tensor<3x16x3xf32>) -> tensor<2x4x3xf32>',
        "batch dimensions differ",
    ),
    (
        "%x: tensor<1x3x8x8xf32>, %w: tensor<5x3x3x3xf32>, %b: tensor<5xf32>",
        '%y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, '
        "dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xf32>, tensor<5x3x3x3xf32>, tensor<5xf32>) "
        "-> tensor<1x5x8x8xf32>",
        "result shape [1, 5, 8, 8] must be [1, 5, 6, 6]",
    ),
    (
        "%x: tensor<1x3x8x8xf32>, %w: tensor<5x3x3x3xf32>, %b: tensor<5xf32>",
        '%y = "qc.conv2d"(%x, %w, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, '
        "dilation = array<i64: 1, 1>, groups = 3 : i64} : (tensor<1x3x8x8xf32>, tensor<5x3x3x3xf32>, tensor<5xf32>) "
        "-> tensor<1x5x6x6xf32>",
        "only groups=1 is supported, got 3",
    ),
    (
        "%w: tensor<10x4xf32>, %ids: tensor<3xf32>",
        '%y = "qc.embedding"(%w, %ids) : (tensor<10x4xf32>, tensor<3xf32>) -> tensor<3x4xf32>',
        "ids must have an integer element type",
    ),
    (
        "%x: tensor<4x16xf32>, %g: tensor<16xf32>",
        '%y = "qc.layer_norm"(%x, %g, %g) {eps = 0.0 : f64} : (tensor<4x16xf32>, tensor<16xf32>, tensor<16xf32>) '
        "-> tensor<4x16xf32>",
        "'eps' must be positive",
    ),
    (
        "%x: tensor<4x16xf32>, %g: tensor<8xf32>",
        '%y = "qc.rms_norm"(%x, %g) {eps = 1.0e-06 : f64} : (tensor<4x16xf32>, tensor<8xf32>) -> tensor<4x16xf32>',
        "gamma must have shape [16]",
    ),
    (
        "%x: tensor<4x16xf32>",
        '%y = "qc.softmax"(%x) {axis = 0 : i64} : (tensor<4x16xf32>) -> tensor<4x16xf32>',
        "only the last axis is supported, got axis 0",
    ),
    (
        "%x: tensor<4x16xf32>",
        '%y = "qc.gelu"(%x) {approximate = "fast"} : (tensor<4x16xf32>) -> tensor<4x16xf32>',
        '\'approximate\' must be "none" or "tanh"',
    ),
    (
        "%x: tensor<4x16xi32>",
        '%y = "qc.relu"(%x) : (tensor<4x16xi32>) -> tensor<4x16xi32>',
        "operand 'x' must have a float element type",
    ),
    (
        "%x: tensor<4x16xf32>",
        '%y = "qc.silu"(%x) : (tensor<4x16xf32>) -> tensor<4x8xf32>',
        "result shape must equal the input shape",
    ),
    (
        "%a: tensor<4x16xf32>, %b: tensor<4x8xf32>",
        '%y = "qc.add"(%a, %b) : (tensor<4x16xf32>, tensor<4x8xf32>) -> tensor<4x16xf32>',
        "operands must have the same shape",
    ),
    (
        "%x: tensor<4x16xf32>, %s: tensor<4xf32>",
        '%y = "qc.channel_scale"(%x, %s) : (tensor<4x16xf32>, tensor<4xf32>) -> tensor<4x16xf32>',
        "scale must have the shape of the last dim",
    ),
    (
        "%x: tensor<4x3xf32>",
        '%y = "qc.channel_permute"(%x) {perm = array<i64: 0, 0, 1>} : (tensor<4x3xf32>) -> tensor<4x3xf32>',
        "'perm' must be a permutation of the last dim",
    ),
    (
        "%x: tensor<4x16xf32>, %s: tensor<1xf32>",
        '%y = "qc.quantize"(%x, %s) {bits = 9 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) '
        "-> tensor<4x16xi8>",
        "'bits' must be in [2, 8], got 9",
    ),
    (
        "%x: tensor<4x16xf32>, %s: tensor<4xf32>",
        '%y = "qc.quantize"(%x, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>, tensor<4xf32>) '
        "-> tensor<4x16xi8>",
        "scale must be [1] (per-tensor) or [16] (per-channel on axis -1), got [4]",
    ),
    (
        "%x: tensor<4x16xf32>",
        '%q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_token"} : (tensor<4x16xf32>) '
        "-> (tensor<4x16xi8>, tensor<1xf32>)",
        "scale result shape [1] must be [4, 1]",
    ),
    (
        "%x: tensor<4x16xf32>",
        '%q, %s = "qc.quantize_dynamic"(%x) {bits = 8 : i64, granularity = "per_channel"} : (tensor<4x16xf32>) '
        "-> (tensor<4x16xi8>, tensor<4x1xf32>)",
        "'granularity' must be per_token or per_tensor, got 'per_channel'",
    ),
    (
        "%q: tensor<4x16xf32>, %s: tensor<1xf32>",
        '%y = "qc.dequantize"(%q, %s) {axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xf32>',
        "operand 'q' must have an integer element type",
    ),
    (
        "%a: tensor<4x16xi8>, %s: tensor<1xf32>",
        '%y = "qc.requantize"(%a, %s) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xi8>, tensor<1xf32>) '
        "-> tensor<4x16xi8>",
        "operand 'acc' must be i32",
    ),
    (
        "%x: tensor<4x16xi8>, %xs: tensor<4x1xf32>, %w: tensor<8x16xi8>, %b: tensor<8xf32>",
        '%y = "qc.qlinear"(%x, %xs, %w, %b, %b) {act = "tanh"} : (tensor<4x16xi8>, tensor<4x1xf32>, tensor<8x16xi8>, '
        "tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>",
        "'act' must be one of",
    ),
    (
        "%x: tensor<4x16xi32>, %xs: tensor<4x1xf32>, %w: tensor<8x16xi8>, %b: tensor<8xf32>",
        '%y = "qc.qlinear"(%x, %xs, %w, %b, %b) {act = "none"} : (tensor<4x16xi32>, tensor<4x1xf32>, tensor<8x16xi8>, '
        "tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>",
        "xq and wq must be i8",
    ),
    (
        "%a: tensor<2x4x16xi8>, %as: tensor<2x4x1xf32>, %b: tensor<2x16x3xi8>, %bs: tensor<2x3x1xf32>",
        '%y = "qc.qmatmul"(%a, %as, %b, %bs) : (tensor<2x4x16xi8>, tensor<2x4x1xf32>, tensor<2x16x3xi8>, '
        "tensor<2x3x1xf32>) -> tensor<2x4x3xf32>",
        "scales must be [..., M, 1] and [..., 1, N]",
    ),
    (
        "%x: tensor<1x3x8x8xi8>, %xs: tensor<3xf32>, %w: tensor<5x3x3x3xi8>, %b: tensor<5xf32>",
        '%y = "qc.qconv2d"(%x, %xs, %w, %b, %b) {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, '
        "dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<1x3x8x8xi8>, tensor<3xf32>, tensor<5x3x3x3xi8>, "
        "tensor<5xf32>, tensor<5xf32>) -> tensor<1x5x6x6xf32>",
        "xs must be a per-tensor scale [1]",
    ),
]


def _parse_error(text: str) -> ir.MLIRError:
    with pytest.raises(ir.MLIRError) as info:
        ir.Module.parse(text, new_context())
    return info.value


@pytest.mark.parametrize(
    ("args", "op_line", "problem"), BAD, ids=[b[1].split('"')[1] + f"-{i}" for i, b in enumerate(BAD)]
)
def test_verifier_reports_located_diagnostic(args, op_line, problem):
    err = _parse_error(_func(op_line, args))
    op_name = op_line.split('"')[1]
    diags = err.error_diagnostics
    assert len(diags) == 1, [d.message for d in diags]
    d = diags[0]
    assert d.message.startswith(f"'{op_name}' op "), d.message
    assert problem in d.message
    # line 3, column of the op's name in the generic form
    col = op_line.index('"qc.') + 3  # +1 for 1-based, +2 for the two-space indent
    assert re.fullmatch(rf'loc\("-":3:{col}\)', str(d.location)), str(d.location)


def test_unknown_qc_op_is_rejected():
    err = _parse_error(_func('%y = "qc.bogus"(%x) : (tensor<4xf32>) -> tensor<4xf32>', "%x: tensor<4xf32>"))
    assert "qc.bogus" in err.error_diagnostics[0].message


# Invalid IR must produce a diagnostic (MLIRError), never a Python exception out of a verifier.
# Known bug: the verifiers index operands and attributes without checking that they exist or have the
# declared kind, so these raise IndexError / KeyError / TypeError / ValueError from Module.parse.


@pytest.mark.parametrize(
    ("args", "op_line"),
    [
        pytest.param(
            "%x: tensor<4x16xf32>",
            '%y = "qc.quantize"(%x) {bits = 8 : i64, axis = -1 : i64} : (tensor<4x16xf32>) -> tensor<4x16xi8>',
            id="missing-operand",
        ),
        pytest.param(
            "%x: tensor<4x16xf32>, %s: tensor<1xf32>",
            '%y = "qc.quantize"(%x, %s) {axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) -> tensor<4x16xi8>',
            id="missing-attribute",
        ),
        pytest.param(
            "%x: tensor<4x16xf32>, %s: tensor<1xf32>",
            '%y = "qc.quantize"(%x, %s) {bits = "8", axis = -1 : i64} : (tensor<4x16xf32>, tensor<1xf32>) '
            "-> tensor<4x16xi8>",
            id="string-bits",
        ),
        pytest.param("%x: f32", '%y = "qc.relu"(%x) : (f32) -> f32', id="scalar-operand"),
    ],
)
def test_malformed_op_gives_diagnostic_not_crash(args, op_line):
    err = _parse_error(_func(op_line, args))
    assert err.error_diagnostics
    assert "qc." in err.error_diagnostics[0].message
