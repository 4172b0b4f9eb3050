"""Recipes (built in and YAML files) and the weights helper (numpy <-> arith.constant)."""

import numpy as np
import pytest
import qcomp
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.weights import constant_array, make_constant, tensor_type
from qcomp.pipeline import Pipeline
from qcomp.recipes import BUILTIN, Recipe, get_recipe, load_recipe


# ----------------------------------------------------------------------------- recipes
def test_builtin_recipes():
    assert set(BUILTIN) >= {"fp32", "w8a8"}
    fp32, w8a8 = get_recipe("fp32"), get_recipe("w8a8")
    assert fp32.pipeline == ""
    assert fp32.version == 1
    assert w8a8.name == "w8a8"
    assert w8a8.version == 1
    (q, upstream) = Pipeline.parse(w8a8.pipeline).steps
    assert (q.name, q.wbits, q.abits, q.granularity) == ("qc-quantize", 8, 8, "per_token")
    assert upstream == "canonicalize"
    assert qcomp.Recipe is Recipe


def test_recipe_object_passes_through():
    r = Recipe("mine", 3, "canonicalize")
    assert get_recipe(r) is r


def test_unknown_recipe_name():
    with pytest.raises(QcompError, match=r"unknown recipe 'w3a3' \(built in: fp32, w8a8"):
        get_recipe("w3a3")


def test_yaml_recipe_file(tmp_path):
    path = tmp_path / "per_tensor.yaml"
    path.write_text(
        "name: my-w4a8\n"
        "version: 2\n"
        "description: per-tensor activations\n"
        "pipeline: qc-quantize{wbits=4,abits=8,granularity=per_tensor},canonicalize\n"
    )
    r = get_recipe(str(path))
    assert r == Recipe(
        "my-w4a8", 2, "qc-quantize{wbits=4,abits=8,granularity=per_tensor},canonicalize", "per-tensor activations"
    )
    (q, _) = Pipeline.parse(r.pipeline).steps
    assert (q.wbits, q.granularity) == (4, "per_tensor")


def test_yaml_recipe_defaults(tmp_path):
    path = tmp_path / "bare.yml"
    path.write_text("pipeline: canonicalize\n")
    r = load_recipe(str(path))
    assert (r.name, r.version, r.pipeline, r.description) == ("bare.yml", 1, "canonicalize", "")


def test_yaml_recipe_empty_pipeline_is_float(tmp_path):
    path = tmp_path / "float.yaml"
    path.write_text("name: float\npipeline:\n")
    assert get_recipe(str(path)).pipeline == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\npipeline: [unclosed\n", "cannot read recipe"),
        ("name: x\nversion: 1\n", "a recipe needs at least a 'pipeline' key"),
        ("- pipeline: canonicalize\n", "a recipe needs at least a 'pipeline' key"),
        ("", "a recipe needs at least a 'pipeline' key"),
        ("pipeline: cse\nstages: 3\n", "unknown recipe keys ['stages']"),
    ],
)
def test_malformed_yaml_recipe(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(QcompError) as info:
        get_recipe(str(path))
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_missing_yaml_recipe_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(QcompError, match="cannot read recipe"):
        get_recipe(str(path))


def test_yaml_recipe_bad_version(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("version: two\npipeline: cse\n")
    with pytest.raises(QcompError, match="version"):
        get_recipe(str(path))


# ----------------------------------------------------------------------------- weights
@pytest.fixture
def block():
    """A func body to build constants in (the context stays alive with the module)."""
    ctx = new_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.parse("func.func @f() {\n  return\n}\n")
        body = module.body.operations[0].regions[0].blocks[0]
        with ir.InsertionPoint.at_block_begin(body):
            yield module


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        np.array([[-128, -1, 0, 127]], dtype=np.int8),
        np.array([2**31 - 1, -(2**31), 5], dtype=np.int32),
        np.array([[2**40, -3]], dtype=np.int64),
        np.full((2, 3, 4), -2.5, dtype=np.float32),  # all equal: may be stored as a splat
    ],
    ids=["f32", "i8", "i32", "i64", "uniform"],
)
def test_make_constant_round_trip(block, arr):
    v = make_constant(arr)
    assert v.owner.name == "arith.constant"
    assert str(v.type) == str(tensor_type(arr))
    back = constant_array(v)
    assert back.dtype == arr.dtype
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_make_constant_of_non_contiguous_array(block):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3).T  # Fortran-ordered view
    np.testing.assert_array_equal(constant_array(make_constant(arr)), arr)


def test_tensor_type_names():
    ctx = new_context()
    with ctx, ir.Location.unknown():
        assert str(tensor_type(np.zeros((8, 16), np.int8))) == "tensor<8x16xi8>"
        assert str(tensor_type(np.zeros((3,), np.float32))) == "tensor<3xf32>"


def _func_values(text: str):
    module = ir.Module.parse(text, new_context())
    ops = list(module.body.operations[0].regions[0].blocks[0].operations)
    return module, ops


def test_constant_array_reads_parsed_splat():
    module, ops = _func_values(
        "func.func @f() -> tensor<3x4xf32> {\n"
        "  %c = arith.constant dense<2.5> : tensor<3x4xf32>\n"
        "  return %c : tensor<3x4xf32>\n}\n"
    )
    arr = constant_array(ops[0].results[0])
    assert arr.shape == (3, 4)
    assert arr.dtype == np.float32
    assert (arr == 2.5).all()


def test_constant_array_through_torch_literal_and_cast():
    module, ops = _func_values(
        "func.func @f() -> tensor<2x2xf32> {\n"
        "  %0 = torch.vtensor.literal(dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>\n"
        "  %1 = torch_c.to_builtin_tensor %0 : !torch.vtensor<[2,2],f32> -> tensor<2x2xf32>\n"
        "  return %1 : tensor<2x2xf32>\n}\n"
    )
    np.testing.assert_array_equal(constant_array(ops[1].results[0]), [[1.0, 2.0], [3.0, 4.0]])


def test_constant_array_of_non_constants_is_none():
    module, ops = _func_values(
        "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n"
        "  %y = arith.addf %x, %x : tensor<4xf32>\n"
        "  return %y : tensor<4xf32>\n}\n"
    )
    assert constant_array(ops[0].results[0]) is None  # produced by a non-constant op
    assert constant_array(ops[0].operands[0]) is None  # a block argument


def test_builtin_quantization_recipes():
    w4 = get_recipe("w4a16")
    (q, _) = Pipeline.parse(w4.pipeline).steps
    assert (q.wbits, q.abits, q.group, q.static) == (4, 16, 128, False)
    (q, _) = Pipeline.parse(get_recipe("w8a16").pipeline).steps
    assert (q.wbits, q.abits, q.group) == (8, 16, 0)
    (q, _) = Pipeline.parse(get_recipe("w4a8").pipeline).steps
    assert (q.wbits, q.abits, q.group, q.granularity) == (4, 8, 0, "per_token")
    static = get_recipe("w8a8-static")
    (q, _) = Pipeline.parse(static.pipeline).steps
    assert (q.wbits, q.abits, q.static) == (8, 8, True)
    assert static.calibration == "minmax"
    assert not get_recipe("w8a8").calibration


def test_yaml_recipe_calibration_key(tmp_path):
    path = tmp_path / "static.yaml"
    path.write_text("name: s\npipeline: qc-quantize{static=true}\ncalibration: percentile:99.9\n")
    assert get_recipe(str(path)).calibration == "percentile:99.9"
    path.write_text("name: s\npipeline: qc-quantize{static=true}\ncalibration: median\n")
    with pytest.raises(QcompError, match="calibration method must be one of minmax, percentile, mse, kl"):
        get_recipe(str(path))
    path.write_text("name: s\npipeline: qc-quantize{static=true}\ncalibration: kl:99\n")
    with pytest.raises(QcompError, match="bad calibration spec 'kl:99'"):
        get_recipe(str(path))
