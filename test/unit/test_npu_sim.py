"""NPU target pieces: validated options and presets, the ISA's round trips, the simulator's numerics
(bit-exact to the qlinear reference on every preset and dataflow) and its cycle model (SCALE-Sim's fold
formula with unlimited bandwidth; never below it with finite bandwidth), and compile-time rejection of
layers that do not fit the scratchpad."""

import numpy as np
import pytest
from qcomp import targets
from qcomp.dialects import reference
from qcomp.dialects.errors import QcompError
from qcomp.targets.npu import isa
from qcomp.targets.npu.arch import NpuOptions
from qcomp.targets.npu.codegen import Gemm, Layout, generate, plan
from qcomp.targets.npu.simulator import Machine, timing


def test_presets_from_the_anchors():
    g, s, t = (NpuOptions(preset=p).arch for p in ("gemmini", "scalesim", "tpu-like"))
    assert (g.rows, g.cols, g.scratchpad_kib, g.scratchpad_banks, g.accumulator_kib, g.accumulator_banks) == (
        16, 16, 256, 4, 64, 2,
    )  # fmt: skip
    assert (s.rows, s.cols, s.dataflow, s.scratchpad_kib, s.accumulator_kib) == (32, 32, "os", 64, 64)
    assert (t.rows, t.cols, t.dataflow) == (256, 256, "ws")
    npu = targets.get("npu:scalesim", dataflow="ws", dram_bandwidth=None)
    assert npu.arch.dataflow == "ws"
    assert npu.arch.dram_bandwidth is None
    assert npu.arch.rows == 32
    assert targets.get("npu").arch.dram_bandwidth == 16.0  # the preset's value unless given
    assert npu.capabilities.supports("qc.qlinear")
    assert not npu.capabilities.supports("qc.softmax")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"preset": "eyeriss"}, "unknown preset 'eyeriss' (known: gemmini, scalesim, tpu-like)"),
        ({"dataflow": "is"}, "dataflow must be one of ('os', 'ws'), got 'is'"),
        ({"dram_bandwidth": 0}, "dram_bandwidth must be a positive number of bytes/cycle or None, got 0"),
        ({"rows": 0}, "rows must be a positive integer, got 0"),
        ({"dram_latency": -1}, "dram_latency must be a non-negative integer, got -1"),
        ({"banks": 2}, "target npu:"),
    ],
)
def test_bad_options_one_line_errors(options, message):
    with pytest.raises(QcompError) as info:
        targets.get("npu", **options)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_isa_text_and_binary_round_trip():
    arch = NpuOptions(preset="gemmini").arch
    g = Gemm("qc.qlinear", "loc(unknown)", 40, 40, 20, "relu", True)
    prog = generate(arch, g, Layout.of(g))
    assert {i.op for i in prog} == {"config", "ld", "preload", "matmul", "epi", "st", "halt"}
    blob = isa.encode(prog)
    assert len(blob) == isa.WIDTH * len(prog)
    assert isa.decode(blob) == prog
    text = isa.disassemble(prog)
    assert isa.assemble(text) == prog
    assert isa.encode(isa.assemble(text)) == blob
    assert "epi acc=0x0" in text
    assert "relu xs_scalar" in text
    small_acc = NpuOptions(preset="gemmini", accumulator_kib=1).arch  # ws partial sums spilled and reloaded
    spill = generate(small_acc, g, Layout.of(g), "streamed")
    assert isa.decode(isa.encode(spill)) == spill
    assert isa.assemble(isa.disassemble(spill)) == spill
    assert "stride=80 acc\n" in isa.disassemble(spill)
    assert any(i.op == "ld" and i.flags == {"acc"} for i in spill)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("matmul acc=0 a=0 w=0 k=1 m=1", "line 1: npu isa: matmul takes operands acc, a, w, k, m, n"),
        ("ld sp=0 dram=0 rows=1 bytes=1 stride=1 relu", "line 1: npu isa: ld has no flag 'relu'"),
        ("\nfoo x=1", "line 2: npu isa: unknown instruction 'foo'"),
        ("ld sp=zz dram=0 rows=1 bytes=1 stride=1", "line 1: bad number 'zz' for sp"),
    ],
)
def test_assembler_errors(text, message):
    with pytest.raises(QcompError, match=message):
        isa.assemble(text)


def test_decoder_rejects_bad_binaries():
    with pytest.raises(QcompError, match="not a multiple of the 32-byte instruction"):
        isa.decode(b"\0" * 31)
    with pytest.raises(QcompError, match="unknown opcode 99 at byte 32"):
        isa.decode(isa.encode([isa.make("halt")]) + bytes([99]) + b"\0" * 31)


def _run(arch, g: Gemm, rng, schedule: str = "auto"):
    lay = Layout.of(g)
    x = rng.integers(-127, 128, (g.m, g.k), dtype=np.int8)
    w = rng.integers(-127, 128, (g.n, g.k), dtype=np.int8)
    xs = rng.random((1,) if g.xs_scalar else (g.m, 1), dtype=np.float32) * np.float32(0.01)
    ws = rng.random(g.n, dtype=np.float32) * np.float32(0.01)
    b = rng.standard_normal(g.n).astype(np.float32)
    dram = np.zeros(lay.size, np.uint8)
    for off, arr in ((lay.x, x), (lay.xs, xs), (lay.w, w), (lay.ws, ws), (lay.b, b)):
        raw = arr.reshape(-1).view(np.uint8)
        dram[off : off + raw.size] = raw
    prog = isa.decode(isa.encode(generate(arch, g, lay, schedule)))
    Machine(arch).execute(prog, dram)
    y = dram[lay.y : lay.y + 4 * g.m * g.n].view(np.float32).reshape(g.m, g.n)
    return y, reference.qlinear(x, xs, w, ws, b, act=g.act), prog


@pytest.mark.parametrize("preset", ["gemmini", "scalesim", "tpu-like"])
@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_simulator_bit_exact_to_reference(preset, dataflow):
    rng = np.random.default_rng(7)
    # tails in every dimension; a tiny scratchpad forces K chunks (os) and streamed tiles (both)
    for kib in (None, 4):
        arch = NpuOptions(preset=preset, dataflow=dataflow, **({"scratchpad_kib": kib} if kib else {})).arch
        for m, k, n, act, scalar in ((37, 300, 45, "none", False), (5, 7, 3, "relu", True), (1, 64, 17, "none", True)):
            g = Gemm("qc.qlinear", "loc(unknown)", m, k, n, act, scalar)
            try:
                y, want, _ = _run(arch, g, rng)
            except QcompError:
                assert preset == "tpu-like"
                assert kib == 4
                continue
            assert np.array_equal(y, want), (preset, dataflow, kib, m, k, n)


def test_small_scratchpad_streams_k_chunks():
    arch = NpuOptions(preset="scalesim", scratchpad_kib=4).arch
    p, _ = plan(arch, Gemm("qc.qlinear", "l", 64, 3072, 64))
    assert p.kc < 3072
    assert not p.w_resident


def _fold(arch, m, k, n):
    """SCALE-Sim: folds = ceil(Sr/R)·ceil(Sc/C), 2R + C + T - 2 cycles per fold."""
    sr, sc, t = (m, n, k) if arch.dataflow == "os" else (k, n, m)
    return -(-sr // arch.rows) * -(-sc // arch.cols) * (2 * arch.rows + arch.cols + t - 2)


# every size of the issue (64, 128, 512, 768, 3072) in every dimension, M beyond the accumulator included
SHAPES = [
    (64, 64, 64), (128, 512, 128), (64, 768, 512), (512, 128, 64), (256, 64, 768),
    (512, 768, 768), (768, 3072, 64), (3072, 768, 128), (3072, 64, 512), (128, 3072, 768),
]  # fmt: skip


def _spills(prog) -> bool:
    return any(i.op == "ld" and "acc" in i.flags for i in prog)


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_cycles_match_scalesim_fold_formula(dataflow):
    for m, k, n in SHAPES:
        g = Gemm("qc.qlinear", "l", m, k, n)
        free = NpuOptions(preset="scalesim", dataflow=dataflow, dram_bandwidth=None).arch
        fold = _fold(free, m, k, n)
        prog = generate(free, g, Layout.of(g))
        s = timing(prog, free)
        assert abs(s.compute_cycles - fold) <= 0.05 * fold, (dataflow, m, k, n, s.compute_cycles, fold)
        # ws with partial sums beyond the accumulator: all M rows stream through each weight fold, the
        # partial sums go through DRAM (SCALE-Sim's model) rather than refilling the array per chunk
        assert _spills(prog) == (dataflow == "ws" and 2 * 4 * m * free.cols > free.accumulator_bytes and k > 32)
        if fold > 10_000:  # large enough that DMA latency at the start and the last store are amortized
            assert abs(s.cycles - fold) <= 0.05 * fold, (dataflow, m, k, n, s.cycles, fold)
        for bw in (10.0, 64.0):
            a = NpuOptions(preset="scalesim", dataflow=dataflow, dram_bandwidth=bw).arch
            assert timing(generate(a, g, Layout.of(g)), a).cycles >= fold, (dataflow, m, k, n, bw)


@pytest.mark.parametrize("preset", ["scalesim", "gemmini"])
def test_ws_schedules_bit_exact_and_the_faster_one_kept(preset):
    """A 1 KiB accumulator holds a few rows: both ws schedules (chunked: re-preload per chunk; streamed:
    partial sums spilled to DRAM and reloaded) give the reference's bits; `auto` keeps the faster."""
    rng = np.random.default_rng(3)
    for bw in (None, 4.0):
        arch = NpuOptions(preset=preset, dataflow="ws", accumulator_kib=1, dram_bandwidth=bw).arch
        for m, k, n, act, scalar in ((37, 300, 45, "none", False), (70, 64, 17, "relu", True)):
            g = Gemm("qc.qlinear", "loc(unknown)", m, k, n, act, scalar)
            cycles = {}
            for schedule in ("chunked", "streamed", "auto"):
                y, want, prog = _run(arch, g, rng, schedule)
                assert np.array_equal(y, want), (preset, bw, m, k, n, schedule)
                assert _spills(prog) == (
                    schedule == "streamed" or (schedule == "auto" and cycles["streamed"] < cycles["chunked"])
                )
                cycles[schedule] = timing(prog, arch).cycles
            assert cycles["auto"] == min(cycles["chunked"], cycles["streamed"])
    with pytest.raises(QcompError, match="the streamed schedule needs the ws dataflow, not os"):
        generate(NpuOptions(preset="scalesim").arch, g, Layout.of(g), "streamed")


def test_reload_of_spilled_partial_sums_waits_for_dram():
    arch = NpuOptions(preset="scalesim", dataflow="ws", dram_bandwidth=None).arch
    st = isa.make("st", "acc", dram=0, src=0, rows=1, bytes=128, stride=128)
    ld = isa.make("ld", "acc", sp=4096, dram=0, rows=1, bytes=128, stride=128)
    other = isa.make("ld", "acc", sp=4096, dram=128, rows=1, bytes=128, stride=128)
    assert timing([st, ld, isa.make("halt")], arch).cycles == 2 * arch.dram_latency  # the bytes reach DRAM first
    assert timing([st, other, isa.make("halt")], arch).cycles == arch.dram_latency  # other bytes: overlapped


def test_finite_bandwidth_is_slower_and_counts_traffic():
    g = Gemm("qc.qlinear", "l", 128, 512, 256)
    cycles = {}
    for bw in (None, 64.0, 4.0):
        a = NpuOptions(preset="gemmini", dram_bandwidth=bw).arch
        s = timing(generate(a, g, Layout.of(g)), a)
        assert s.macs == g.macs
        assert s.dram_bytes >= g.m * g.k + g.n * g.k + 4 * g.m * g.n  # every tensor at least once
        cycles[bw] = s.cycles
        if bw is not None:
            assert s.cycles >= s.dram_bytes / bw
    assert cycles[None] < cycles[64.0] < cycles[4.0]


def test_layer_too_big_for_scratchpad_rejected():
    arch = NpuOptions(preset="tpu-like", scratchpad_kib=64).arch
    g = Gemm("qc.qlinear", 'loc("m.py":3:4)', 16, 512, 512)
    with pytest.raises(QcompError) as info:
        generate(arch, g, Layout.of(g))
    msg = str(info.value)
    assert msg.startswith('loc("m.py":3:4): npu: qc.qlinear [M=16, K=512, N=512] does not fit the tpu-like scratchpad')
    assert "\n" not in msg
