"""Resource limits checked before the work starts: options that size a search or a thread team, and recipe
files whose YAML aliases would expand to gigabytes, are refused in one line, quickly."""

import time

import pytest
from qcomp import targets
from qcomp.dialects.errors import QcompError
from qcomp.pipeline import Pipeline
from qcomp.recipes import load_recipe

# 600 bytes; each level holds nine of the one before: 9^9 strings once the pipeline is turned into text
BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefg", "bcdefgh", strict=True)),
        f"pipeline: [{','.join(['*h'] * 9)}]",
    ]
)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    # safe_load shares the aliased lists; str() of the pipeline then expanded them to about 1 GB
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    t0 = time.perf_counter()
    with pytest.raises(QcompError, match=r"bomb.yaml: line 2, column \d+: YAML aliases \(\*name\) are not allowed"):
        load_recipe(str(path))
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("pipeline: [qc-quantize, canonicalize]\n", r"recipe key 'pipeline' must be text, got a list"),
        ("name: {a: 1}\npipeline: canonicalize\n", r"recipe key 'name' must be text, got a dict"),
        ("pipeline: canonicalize\n" + "#" * (1 << 20), r"larger than 1048576 bytes"),
    ],
)
def test_recipe_values_and_size_are_checked(tmp_path, text, match):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(QcompError, match=match) as e:
        load_recipe(str(path))
    assert "\n" not in str(e.value)


def test_anchor_without_alias_still_loads(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: &n mine\npipeline: canonicalize\n")
    assert load_recipe(str(path)).name == "mine"


@pytest.mark.parametrize("grid", [1, 1001, 100_000_000])
def test_awq_grid_is_bounded(grid):
    # qc-awq{grid=1e8} passed validation and then searched for hours
    with pytest.raises(QcompError, match=rf"qc-awq: grid must be in \[2, 1000\], got {grid}$"):
        Pipeline.parse(f"qc-awq{{grid={grid}}}")
    Pipeline.parse("qc-awq{grid=1000}")


def test_cpu_thread_count_is_bounded():
    with pytest.raises(QcompError, match=r"threads must be an integer in \[1, 1024\] or None, got 100000"):
        targets.get("cpu", threads=100_000)
