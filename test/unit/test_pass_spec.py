"""`pipeline.pass_spec`: a pass object printed back as pipeline text that parses to an equal pass."""

import pytest
from qcomp.passes.smooth import SmoothPass
from qcomp.pipeline import all_passes, make_pass, pass_spec, split_top_level
from qcomp.recipes import BUILTIN

REGISTRY = all_passes()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_default_pass_prints_as_its_name(name):
    assert pass_spec(REGISTRY[name]()) == name


@pytest.mark.parametrize("name", list(BUILTIN))
def test_recipe_passes_print_back_to_equal_passes(name):
    for text in split_top_level(BUILTIN[name].pipeline):
        p = make_pass(text, REGISTRY)
        if p is not None:  # ours, not upstream
            assert make_pass(pass_spec(p), REGISTRY) == p


def test_only_changed_options_are_printed():
    assert pass_spec(SmoothPass(alpha=0.75)) == "qc-smooth{alpha=0.75}"
    default = SmoothPass()
    assert pass_spec(SmoothPass(alpha=default.alpha)) == "qc-smooth"
