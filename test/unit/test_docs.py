"""docs/dialect.md and docs/recipes.md are generated from the code (`qcomp.tools.gen_docs`): the committed
pages must equal what the code generates now, so they cannot drift."""

import pytest
from qcomp.dialects import op_classes
from qcomp.recipes import BUILTIN
from qcomp.tools import gen_docs


def test_committed_pages_equal_the_generated_ones():
    assert gen_docs.stale() == [], "docs/ is out of date: run `.venv/bin/python -m qcomp.tools.gen_docs`"


def test_check_fails_on_an_edited_page(tmp_path, capsys):
    assert gen_docs.main(["--docs", str(tmp_path)]) == 0
    assert gen_docs.main(["--check", "--docs", str(tmp_path)]) == 0
    page = tmp_path / "recipes.md"
    page.write_text(page.read_text() + "hand-written line\n")
    assert gen_docs.main(["--check", "--docs", str(tmp_path)]) == 1
    assert "recipes.md is out of date" in capsys.readouterr().err


def test_dialect_page_has_every_op_and_its_verifier_rules():
    page = gen_docs.dialect_page()
    for name, cls in op_classes().items():
        assert f"### `{name}`" in page
        if "verify_invariants" in cls.__dict__:
            assert gen_docs.rules_of(gen_docs._verifier(cls)), f"{name}: no verifier rule found"
    linear = gen_docs.rules_of(gen_docs._verifier(op_classes()["qc.linear"]))
    # the helper's message (`_float_operands`) comes first, ', got ...' is cut from the message
    assert linear[0] == "operand '{n}' must have a float element type"
    assert "weight must be rank 2 [N, K]" in linear


@pytest.mark.parametrize("name", list(BUILTIN))
def test_recipes_page_lists_each_builtin_recipe_with_its_passes(name):
    page = gen_docs.recipes_page()
    section = page.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
    assert BUILTIN[name].description in section
    for step in filter(None, BUILTIN[name].pipeline.split("},")):
        assert step.split("{")[0] in section
