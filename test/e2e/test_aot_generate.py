"""Ahead-of-time generation in C: qcomp.compile_lm's saved prefill/ and decode/ libraries driven by
examples/c/generate.c (built with gcc), which keeps the KV cache in its own buffers (qcomp_model_run_inplace
updates them in place); its greedy ids equal CompiledLM.generate's."""

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import tiny_llama_lm
from qcomp.examples.models import tiny_llama

GCC = shutil.which("gcc")
pytestmark = pytest.mark.skipif(GCC is None, reason="gcc is not on PATH: model.so and generate.c need it")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "c" / "generate.c"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(CompiledLM, prompt ids, saved directory, generate executable), built once."""
    m, (ids,) = tiny_llama()
    lm = tiny_llama_lm("w8a8")  # the same weights as `m` (seeded), compiled once per session
    out = tmp_path_factory.mktemp("lm")
    written = lm.save(str(out))
    assert {"prefill/model.so", "decode/model.so", "lm.json"} <= set(written)
    exe = out / "generate"
    cmd = [GCC, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(EXAMPLE), "-ldl"]
    subprocess.run(cmd, check=True)
    return lm, ids[0].tolist(), out, exe


def _run(exe: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=60)


# 11: a chunk and a padded chunk; 10: a chunk and a 2-token tail through decode; 3: one padded chunk;
# 62: the cache fills after 3 new tokens (max_seq 64), so fewer than 16 come out
@pytest.mark.parametrize("n", [11, 10, 3, 62])
def test_c_generate_equals_python(built, n):
    lm, ids, out, exe = built
    prompt = (ids * 4)[:n]
    want = lm.generate(prompt, max_new_tokens=16)[0]
    assert len(want) == (3 if n == 62 else 16)
    r = _run(exe, out, "-n", 16, *prompt)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert [int(t) for t in r.stdout.split()] == want
    assert r.stdout == " ".join(map(str, want)) + "\n"


def test_c_generate_one_line_errors(built):
    lm, _, out, exe = built
    for args, message in [
        ((3, lm.vocab), f"generate: token id {lm.vocab} is outside the vocabulary [0, {lm.vocab})"),
        ((-1,), f"generate: token id -1 is outside the vocabulary [0, {lm.vocab})"),
        (("7x",), "generate: '7x' is not a token id"),
        ((1,) * 65, "generate: the prompt's 65 tokens exceed max_seq=64"),
    ]:
        r = _run(exe, out, *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", message + "\n")
    r = _run(exe, out / "missing", 1)
    assert r.returncode == 1
    assert r.stderr.startswith("generate: ")
    assert r.stderr.count("\n") == 1
    assert "prefill/model.so" in r.stderr


def test_c_generate_int8_cache_equals_python(built, tmp_path):
    """The int8 cache (i8 keys/values and f16 scales as bytes) through the same C generator."""
    _, ids, _, exe = built
    lm = tiny_llama_lm("w8a8", kv="int8")
    lm.save(str(tmp_path))
    for n in (11, 62):
        prompt = (ids * 4)[:n]
        want = lm.generate(prompt, max_new_tokens=16)[0]
        r = _run(exe, tmp_path, "-n", 16, *prompt)
        assert r.returncode == 0, r.stderr
        assert [int(t) for t in r.stdout.split()] == want
