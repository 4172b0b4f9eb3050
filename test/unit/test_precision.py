"""`qcomp.dialects.precision.Precision`: one parser and printer for precision texts (w4a8, w4a16g128, fp32,
nvfp4-w4a16), used by the targets' cost models and offload passes."""

import pytest
from qcomp.dialects.errors import QcompError
from qcomp.dialects.precision import FP32, Precision


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("fp32", FP32),
        ("w8a8", Precision(8, 8)),
        ("w4a8", Precision(4, 8)),
        ("w2a16", Precision(2, 16)),
        ("w4a16g128", Precision(4, 16, 128)),
        ("w8a8g32", Precision(8, 8, 32)),  # the grammar allows it; a consumer may refuse it
        ("fp8-w8a8", Precision(8, 8, 0, "fp8")),
        ("nvfp4-w4a16", Precision(4, 16, 0, "nvfp4")),
        ("mxfp4/fp8-w4a8", Precision(4, 8, 0, "mxfp4/fp8")),
        ("nvfp4-w4a4", Precision(4, 4, 0, "nvfp4")),
    ],
)
def test_parse_and_print_round_trip(text, want):
    p = Precision.parse(text)
    assert p == want
    assert str(p) == text
    assert Precision.parse(str(p)) == p


def test_properties():
    assert FP32.is_float
    assert not FP32.is_integer
    assert Precision.parse("w4a16g64").weight_only
    assert Precision.parse("w4a8").is_integer
    assert not Precision.parse("fp8-w8a8").is_integer
    assert str(Precision(4, 16, 0)) == "w4a16"  # group 0 prints as nothing
    assert Precision.parse("w4a16g0") == Precision(4, 16, 0)  # qc-assign-precision{group=0}'s candidate names


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("fp16", "is not a precision"),
        ("int8", "is not a precision"),
        ("w4a16g", "is not a precision"),
        ("W4A8", "is not a precision"),
        ("w4a8 ", "is not a precision"),
        ("-w4a8", "is not a precision"),
        ("w9a8", "weight bits must be 2..8"),
        ("w1a16", "weight bits must be 2..8"),
        ("w4a32", "activation bits 2..8 or 16"),
    ],
)
def test_bad_texts_are_one_line_errors(text, why):
    with pytest.raises(QcompError, match=why) as e:
        Precision.parse(text, "cim target")
    assert str(e.value).startswith("cim target: ")
    assert "\n" not in str(e.value)
    assert Precision.try_parse(text) is None
