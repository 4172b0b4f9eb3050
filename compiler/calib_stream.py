"""Block-streamed calibration: `calibrate(model, samples, stream="blocks", weights=CHECKPOINT)`.

The whole-model path (`qcomp.calibrate`) compiles the fp32 graph and runs it with taps, so it holds the PyTorch
model, its compiled copy and every layer's statistics at once. This path runs the PyTorch model one decoder
block at a time instead, the way GPTQ's and llm-compressor's sequential pipelines do, with the weights read
from a safetensors checkpoint as each block needs them:

1. the parameters outside the blocks (embeddings, final norm, lm_head) are read and kept; every calibration
   sample runs up to the first block, whose inputs (args, kwargs) are cached, one per sample;
2. for each block in turn: its parameters are read from the checkpoint (opened memory-mapped and closed again),
   the block runs on each cached input with hooks on its `nn.Linear` layers feeding the same streaming
   statistics as the whole-model path (`Observer`: per-channel max|x|, mean|x|, histogram clips, row sample;
   Hessians 2·XᵀX / rows, f32 products summed in f64, one per distinct input as q/k/v share one), its outputs
   become the next block's cached inputs, and its parameters are dropped (back to the meta device);
3. the layers after the blocks (lm_head) run on the last block's outputs: the blocks are replaced by stand-ins
   that hand those outputs on, and the model runs once per sample.

Peak memory: the outer parameters, one block, one cached block input per sample and the statistics (with
Hessians: one f32 [K, K] per distinct linear input). The model passed in may be a skeleton whose parameters
are on the meta device (`skeleton(checkpoint)` builds one for a transformers checkpoint directory); real
parameters are used as they are. Buffers (rotary tables) must be real: `empty_weights` leaves them so.

The table lists the ops in the order the linears run (the compiled graph's walk order), keyed and fingerprinted
as `calibrate` keys them, so `attach` accepts it for the whole model's compile; its `location`s are module
names, not source locations. The activations come from PyTorch eager instead of the compiled fp32 build, so the
statistics equal the whole-model path's up to f32 rounding (summation order of the two builds' kernels).
Only linear layers are supported (a model with conv2d layers is refused), with one-pass Hessians
(hessian=True) and output gains measured block by block (`sensitivity=`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Iterator

import numpy as np
import torch
from qcomp.calib_blocks import Checkpoint, _first_block_inputs, _load, _Replay, _Stop, empty_weights, skeleton  # noqa: F401
from qcomp.calib_stream_gains import with_streamed_gains
from qcomp.calib_table import SAMPLE_ROWS, CalibrationTable, OpStats, _refuse_non_finite, _samples
from qcomp.dialects.errors import QcompError
from qcomp.dialects.quant_math import Observer
from qcomp.sequential import _main_list


# ----------------------------------------------------------------------------- statistics
@dataclasses.dataclass
class _Op:
    """One qc.linear of the compiled graph: a call of an nn.Linear, in the order the calls happen."""

    module: torch.nn.Module
    name: str
    shape: tuple[int, int]
    digest: bytes  # the weight's blake2b, as `calibrate.fingerprint` hashes it
    observer: object
    slot: int  # index of the op whose input it shares (its own index when it is the first reader)
    hook_index: int = 0


class _Stats:
    """The per-op streaming statistics, filled by forward pre-hooks on nn.Linear modules."""

    def __init__(self, samples: int, hessian: bool):

        self.per_sample = -(-SAMPLE_ROWS // samples)
        self.hessian = hessian
        self.ops: list[_Op] = []
        self.by_call: dict[tuple[int, int], int] = {}  # (id(module), call number in this sample) -> op index
        self.calls: dict[int, int] = {}
        # (data_ptr, shape) of an input seen this sample -> (first op reading it, the tensor: held, so that its
        # memory is not reused by a later input of the same sample)
        self.inputs: dict[tuple[int, tuple], tuple[int, torch.Tensor]] = {}
        self.xtx: dict[int, list] = {}  # slot -> [Σ XᵀX (f64), rows], of the block being run
        self.hessians: dict[int, np.ndarray] = {}  # slot -> 2·XᵀX / rows (f32), of the blocks done
        self.sample = 0

    def start_sample(self, n: int) -> None:
        self.sample, self.calls, self.inputs = n, {}, {}

    def hook(self, names: dict[int, str]):
        def pre(mod, args):

            call = self.calls.get(id(mod), 0)
            self.calls[id(mod)] = call + 1
            x = args[0].detach()
            where = (x.data_ptr(), tuple(x.shape))
            i = self.by_call.get((id(mod), call))
            if i is None:
                w = np.ascontiguousarray(mod.weight.detach().numpy())
                i = len(self.ops)
                slot = self.inputs[where][0] if where in self.inputs else i
                digest = hashlib.blake2b(memoryview(w).cast("B")).digest()
                label = names[id(mod)] + (f"#{call}" if call else "")
                self.ops.append(_Op(mod, label, tuple(w.shape), digest, Observer(-1, self.per_sample), slot))
                self.by_call[(id(mod), call)] = i
            op = self.ops[i]
            a = x.numpy()
            op.observer.update(a)
            if self.hessian and where not in self.inputs:
                flat = np.asarray(a, np.float32).reshape(-1, a.shape[-1])
                acc = self.xtx.setdefault(op.slot, [0.0, 0])
                acc[0], acc[1] = acc[0] + (flat.T @ flat).astype(np.float64), acc[1] + len(flat)
            self.inputs.setdefault(where, (i, x))

        return pre

    def finish_block(self) -> None:
        """The f64 sums of the block just run become f32 Hessians (as `calibrate._hessian`): one block in f64."""
        for slot, acc in self.xtx.items():
            self.hessians[slot] = (2 * acc[0] / max(acc[1], 1)).astype(np.float32)
        self.xtx.clear()

    def fingerprint(self) -> str:
        """`calibrate.fingerprint` of the ops, from the digests taken while their weights were loaded."""
        h = hashlib.sha256()
        for op in self.ops:
            h.update(f"qc.linear{list(op.shape)};".encode())
            h.update(b"float32")
            h.update(op.digest)
        return h.hexdigest()[:32]

    def table(self, method: str, percentile: float, samples: int):

        self.finish_block()
        hessians = self.hessians
        ops = tuple(
            OpStats(
                f"{i}:qc.linear:{op.shape[0]}x{op.shape[1]}",
                op.name,
                op.observer.absmax,
                op.observer.clips(percentile),
                op.observer.mean_abs,
                op.observer.sample[:SAMPLE_ROWS] if op.observer.sample is not None else None,
                hessian=hessians.get(op.slot),
            )
            for i, op in enumerate(self.ops)
        )
        return CalibrationTable(self.fingerprint(), method, percentile, samples, ops)


@contextlib.contextmanager
def _hooked(modules: list[torch.nn.Module], hook) -> Iterator[None]:
    handles = [m.register_forward_pre_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def calibrate_streamed(
    model: torch.nn.Module,
    samples: list[tuple],
    weights: str | os.PathLike | None,
    method: str = "minmax",
    percentile: float = 99.99,
    sensitivity: str | None = None,
    sensitivity_samples: list[tuple] | None = None,
    hessian: bool = False,
):
    """The CalibrationTable of `model` on `samples`, computed block by block with the weights read from the
    safetensors checkpoint `weights` (see module docstring)."""

    if hessian not in (False, True):
        raise QcompError(
            "calibration: stream='blocks' computes one-pass Hessians (hessian=True); sequential GPTQ Hessians "
            "(hessian='sequential', qc-gptq{sequential=true}) need the whole-model path"
        )
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        raise QcompError("calibration: stream='blocks' supports linear layers only; this model has conv2d layers")
    main = _main_list(model)
    if main is None or len(main) == 0:
        raise QcompError(
            "calibration: stream='blocks' needs a model whose layers are a torch.nn.ModuleList of blocks with "
            "torch.nn.Linear layers (a transformer's decoder layers)"
        )
    metas = [n for n, p in model.named_parameters() if p.is_meta]
    if metas and weights is None:
        raise QcompError(f"calibration: stream='blocks': {metas[0]} has no data (meta): pass weights=CHECKPOINT")
    ckpt = Checkpoint(weights) if weights is not None else None
    for n, inputs in enumerate(samples):
        _refuse_non_finite(f"calibration sample {n}", ((f"input {i}", x) for i, x in enumerate(inputs)))
    blocks = list(main)
    in_blocks = {id(p) for b in blocks for p in b.parameters()}
    outer = [p for p in model.parameters() if id(p) not in in_blocks]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    names = {id(m): n for n, m in model.named_modules()}
    inside = {id(m) for b in blocks for m in b.modules()}
    outer_linears = [m for m in linears if id(m) not in inside]
    stats = _Stats(len(samples), hessian)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), _load(model, ckpt, outer):
            with _hooked(outer_linears, stats.hook(names)):  # linears before the first block
                stats.start_sample(0)
                inputs = _inputs_observed(model, blocks[0], samples, stats)
            seen_before = {id(op.module) for op in stats.ops}
            as_tuple = False
            for block in blocks:
                with _load(model, ckpt, list(block.parameters())):
                    with _hooked([m for m in block.modules() if isinstance(m, torch.nn.Linear)], stats.hook(names)):
                        outs = []
                        for n, (args, kw) in enumerate(inputs):
                            stats.start_sample(n)
                            outs.append(block(*args, **kw))
                    stats.finish_block()
                    as_tuple = isinstance(outs[0], tuple)
                    inputs = [
                        ((o[0] if isinstance(o, tuple) else o, *args[1:]), kw)
                        for o, (args, kw) in zip(outs, inputs, strict=True)
                    ]
            after = [m for m in outer_linears if id(m) not in seen_before]
            if after:
                _tail(model, main, [args[0] for args, _ in inputs], samples, as_tuple, after, stats, names)
            table = stats.table(method, percentile, len(samples))
            if sensitivity:
                sens = _as_samples(sensitivity_samples) if sensitivity_samples is not None else samples[:1]
                table = with_streamed_gains(table, model, ckpt, main, stats.ops, sens, sensitivity)
    finally:
        model.train(was_training)
    return table


def _as_samples(samples) -> list[tuple]:

    return _samples(samples)


def _inputs_observed(model, first, samples, stats: _Stats) -> list[tuple[tuple, dict]]:
    """The first block's (args, kwargs) per sample (`sequential._layer_inputs`), each sample's pre-block linears
    observed as sample n."""
    got = []
    for n, s in enumerate(samples):
        stats.start_sample(n)
        got += _first_block_inputs(model, first, [s])
    return got


def _tail(model, main, last: list, samples, as_tuple: bool, linears: list, stats: _Stats, names: dict) -> None:
    """Observe the linears after the blocks: the model runs with its blocks replaced by `_Replay` stand-ins."""
    saved = list(main)
    first = _Replay(last, as_tuple)
    for i in range(len(main)):
        main[i] = first if i == 0 else _Replay(None, as_tuple)
    try:
        with _hooked(linears, stats.hook(names)):
            for n, s in enumerate(samples):
                first.n = n
                stats.start_sample(n)
                model(*s)
    finally:
        for i, b in enumerate(saved):
            main[i] = b
