"""The CPU target's instruction sets: the AVX2 fallback (and generic vector code) runs the same kernels as
AVX512-VNNI with the int8 dot product in plain vector ops, bit-identically, and really avoids AVX-512."""

import shutil
import subprocess

import numpy as np
import pytest
from qcomp import targets
from qcomp.dialects import reference as ref
from qcomp.dialects.errors import QcompError
from qcomp.targets.cpu.jit import jit_from_text
from qcomp.targets.cpu.kernels import ISAS, host_isa
from test_cpu_lowering import _qlinear_inputs, module_text

AVAILABLE = ISAS[ISAS.index(host_isa()) :]


def _kernel_asm(fn, tmp_path) -> str:
    """Disassembly of the JIT's object code, kernels only (not the engine's own `_mlir_*` call wrappers)."""
    obj = tmp_path / "k.o"
    fn.engine.dump_to_object_file(str(obj))
    out = subprocess.run(["objdump", "-d", str(obj)], capture_output=True, text=True, check=True).stdout
    keep, lines = False, []
    for line in out.splitlines():
        if line.endswith(">:"):
            keep = "<__qc_" in line and "_vpdpbusd>" not in line
        elif keep:
            lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("isa", AVAILABLE)
def test_every_isa_gives_the_reference_bit_exactly(isa, tmp_path):
    rng = np.random.default_rng(3)
    inputs = _qlinear_inputs(rng, (37,), 64, 96)
    inputs[0][0, :] = -128  # the u8 offset's extremes
    inputs[2][:, 0] = -128
    want = ref.qlinear(*inputs, act="relu")
    fn = jit_from_text(module_text("qlinear", inputs, [want], {"act": "relu"}), isa=isa)
    np.testing.assert_array_equal(fn(*inputs)[0], want)
    if shutil.which("objdump") is None:
        return
    asm = _kernel_asm(fn, tmp_path)
    assert ("zmm" in asm) == (isa == "avx512-vnni")
    assert ("vpdpbusd" in asm) == (isa == "avx512-vnni")
    if isa == "avx2":
        assert "ymm" in asm
        assert "vpmaddubsw" in asm  # the u8 × s8 dot as nibble products (exact), not widened multiplies


def test_isa_option_validated():
    with pytest.raises(QcompError, match="isa must be one of avx512-vnni, avx2, generic"):
        targets.get("cpu", isa="sse9")
    assert targets.get("cpu", isa=ISAS[-1]).options.isa == "generic"
    if host_isa() != "avx512-vnni":
        with pytest.raises(QcompError, match="not available on this CPU"):
            targets.get("cpu", isa="avx512-vnni")
