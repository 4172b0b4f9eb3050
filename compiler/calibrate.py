"""Calibration: activation statistics at every quantizable input, and the table that carries them.

`calibrate(model, samples)` compiles the fp32 graph for the CPU with taps on `qc.linear` / `qc.conv2d`,
runs it on each calibration sample and streams, for the activation operand x of every such op:
per-input-channel max|x| and mean|x| (last dim for linear, dim 1 for NCHW conv), a 2048-bin histogram
of |x|, and a sample of at most SAMPLE_ROWS activation rows (evenly spaced rows of every calibration
input, the first row included) that the outlier passes (qc-smooth{auto}, qc-awq) measure errors on.
Memory is O(layers × (channels × SAMPLE_ROWS + bins)), whatever the number of samples. The
histogram range starts at the first sample's max|x| and doubles when a later sample exceeds it,
merging bins exactly (2^j old bins -> one new bin).

From the histogram each op gets a per-tensor clip value by four methods (TPU-MLIR, TensorRT, ORT):
- minmax: max|x|;
- percentile: the p-th percentile of |x| (default 99.99), interpolated within its bin;
- mse: the clip c = r · max|x|, r in {0.01, ..., 1.00}, minimizing the expected int8 quantization
  error of the observed values (values uniform within a bin; rounding error below c, clipping above);
- kl: TensorRT's entropy calibration: the threshold (a bin edge, >= 128 bins) whose 128-level
  quantized distribution has the least KL divergence from the observed one (outliers folded in).

A `CalibrationTable` holds, per op, its key (walk index, op name, weight shape), location, per-channel
absmax and mean|x|, the clip of every method and the row sample, with the method chosen;
`scale(i) = clip / 127`. It is saved as versioned JSON (exact floats; the row samples in a sibling
`<name>.samples.npz`), validated on load, and bound to a model by a fingerprint: a hash of the
quantizable ops' names, weight shapes and weight contents, so a table for another model is refused.
`attach(module, table)` checks the fingerprint and sets, on each op, `qc.act_scale` (for
`qc-quantize{static=true}`), `qc.act_absmax`, `qc.act_mean` and `qc.act_sample` (for the outlier passes,
which keep them consistent as they transform the layer's input; see `qcomp.passes.act_stats`), and on
the module `qc.calibration = {method, percentile}`. `calibrate(..., sensitivity='w4a16g128')` also
measures each linear layer's output gains (`qcomp.sensitivity`), kept in the table and attached as
`qc.output_gain` (mse) and `qc.output_gain_kl` for qc-assign-precision{sensitivity=output_mse|output_kl}.
`calibrate(..., hessian=True)` streams each linear input's H = 2·XᵀX / rows (qc-gptq; saved as
`<name>.hessians.npz`, attached as `qc.act_hessian`); "sequential": after GPTQ of the earlier blocks.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from dataclasses import replace

import numpy as np
from qcomp import sequential
from qcomp.build import build
from qcomp.calib_stream import calibrate_streamed

# the table moved below the runner (issue 18); its names stay importable from here
from qcomp.calib_table import (  # noqa: F401
    ACT_SCALE,
    FORMAT,
    GAINS,
    NPZ_ERRORS,
    QUANTIZABLE,
    SAMPLE_ROWS,
    VERSION,
    CalibrationTable,
    OpStats,
    _module_layers,
    _refuse_non_finite,
    _samples,
    attach,
    fingerprint,
    hessians_path,
    module_fingerprint,
    samples_path,
)
from qcomp.dialects.errors import QcompError
from qcomp.dialects.quant_math import BINS, KL_LEVELS, kl_clip, mse_clip, percentile_clip, quant_mse  # noqa: F401
from qcomp.dialects.quant_math import METHODS as METHODS  # moved to the floor (issue 18)
from qcomp.dialects.quant_math import Observer as Observer
from qcomp.dialects.quant_math import clip_of as clip_of
from qcomp.sensitivity import output_gains


# ----------------------------------------------------------------------------- running and attaching
def calibrate(
    model,
    samples,
    method: str = "minmax",
    percentile: float = 99.99,
    target="cpu",
    sensitivity: str | None = None,
    sensitivity_samples=None,
    hessian: bool | str = False,
    gptq: dict | None = None,
    stream: str | None = None,
    weights: str | os.PathLike | None = None,
    executor: str | None = None,
    model_spec: str | None = None,
) -> CalibrationTable:
    """Run the fp32 compiled `model` on `samples` (a list of input tuples) and return its CalibrationTable.

    sensitivity: a reference precision (e.g. 'w4a16g128') to also measure each linear layer's output gain
    on the PyTorch model (`qcomp.sensitivity`, one forward pass per layer) for
    qc-assign-precision{sensitivity=output_mse}; on `sensitivity_samples` (default: the first sample).
    hessian: also stream each linear input's 2·XᵀX / rows (qc-gptq); "sequential": `qcomp.sequential` (gptq);
    a qc-gptq pass (a dataclass, from `api.needs_hessian`): sequential with that pass's options; a tuple (qc-gptq
    pass, qc-rotate pass): sequential on a copy rotated as that qc-rotate rotates the graph.
    stream="blocks": run the PyTorch model decoder block by block instead, its weights read from the safetensors
    checkpoint `weights` as each block needs them (`qcomp.calib_stream`; `model` may hold meta parameters).
    executor / model_spec: where the output gains are measured (`qcomp.sensitivity.output_gains`: 'ray' runs
    them as Ray tasks that load the model from the factory spec `model_spec`)."""
    if stream not in (None, "blocks"):
        raise QcompError(f"calibration stream must be None or 'blocks', got {stream!r}")
    rotate = None
    if isinstance(hessian, tuple):  # (qc-gptq pass, the qc-rotate pass before it) from `api.needs_hessian`
        hessian, rotate = hessian
    if dataclasses.is_dataclass(hessian) and not isinstance(hessian, type):
        gptq = dataclasses.asdict(hessian)
        hessian = "sequential"

    if method not in METHODS:
        raise QcompError(f"calibration method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0 < percentile <= 100:
        raise QcompError(f"calibration percentile must be in (0, 100], got {percentile}")
    samples = _samples(samples)
    if stream == "blocks":
        return calibrate_streamed(
            model, samples, weights, method, percentile, sensitivity, sensitivity_samples, hessian or False
        )
    cm = build(model, tuple(samples[0]), target, "fp32", taps=QUANTIZABLE)  # the compile core (qcomp.build)
    per_sample = -(-SAMPLE_ROWS // len(samples))
    observers = [Observer(1 if t.op == "qc.conv2d" else -1, per_sample) for t in cm.taps]
    xtx: dict[int, list] = {}  # tapped input slot -> [Σ XᵀX (f64), rows]: q/k/v share one input
    for n, inputs in enumerate(samples):
        _refuse_non_finite(f"calibration sample {n}", ((f"input {i}", x) for i, x in enumerate(inputs)))
        try:
            _, tapped = cm.run_with_taps(*inputs)
        except ValueError as e:
            raise QcompError(f"calibration sample {n}: {str(e).splitlines()[0]}") from None
        seen = set()
        for obs, (t, operands, _) in zip(observers, tapped, strict=True):
            _refuse_non_finite(f"calibration sample {n}", [(f"the input of {t.op} at {t.location}", operands[0])])
            obs.update(operands[0])
            if hessian and t.op == "qc.linear" and isinstance(t.operands[0], int) and t.operands[0] not in seen:
                seen.add(t.operands[0])
                x = np.asarray(operands[0], np.float32).reshape(-1, operands[0].shape[-1])
                acc = xtx.setdefault(t.operands[0], [0.0, 0])
                acc[0], acc[1] = acc[0] + (x.T @ x).astype(np.float64), acc[1] + len(x)
    # a weight computed at run time is fingerprinted by its op name only (its tap holds no array)
    layers = [(t.op, t.operands[1] if isinstance(t.operands[1], np.ndarray) else ()) for t in cm.taps]
    ops = tuple(
        OpStats(
            f"{i}:{t.op}:{'x'.join(map(str, np.shape(w)))}",
            t.location,
            obs.absmax if obs.absmax is not None else np.zeros(0, np.float32),
            obs.clips(percentile),
            obs.mean_abs,
            obs.sample[:SAMPLE_ROWS] if obs.sample is not None else None,
            hessian=_hessian(xtx, t.operands[0]),
        )
        for i, ((_, w), t, obs) in enumerate(zip(layers, cm.taps, observers, strict=True))
    )
    if hessian == "sequential":  # earlier blocks quantized by GPTQ with qc-gptq's options `gptq`
        ops = sequential.with_sequential_hessians(ops, layers, model, samples, gptq or {}, rotate)
    table = CalibrationTable(fingerprint(layers), method, percentile, len(samples), ops)
    if sensitivity:
        sens = _samples(sensitivity_samples or samples[:1])
        table = with_output_gains(table, model, sens, layers, sensitivity, executor, model_spec)
    return table


def _hessian(xtx: dict, slot) -> np.ndarray | None:
    acc = xtx.get(slot) if isinstance(slot, int) else None
    return None if acc is None else (2 * acc[0] / max(acc[1], 1)).astype(np.float32)


def with_output_gains(
    table: CalibrationTable, model, samples: list[tuple], layers, reference: str, executor=None, model_spec=None
):
    """`table` with each linear op's output gains measured at `reference` (see `qcomp.sensitivity`)."""
    weights = [w if isinstance(w, np.ndarray) and name == "qc.linear" else None for name, w in layers]
    rows = [o.sample for o in table.ops]
    gains, seconds = output_gains(model, samples, weights, rows, reference, executor, model_spec)
    ops = tuple(replace(o, output_gain=g) for o, g in zip(table.ops, gains, strict=True))
    info = {"reference": reference, "seconds": round(seconds, 3), "samples": len(samples)}
    return replace(table, ops=ops, sensitivity=info)


def resolve(
    calibration, model, inputs, method: str, percentile: float, target, sensitivity: str | None = None, hessian=False
) -> CalibrationTable:
    """A CalibrationTable from what `qcomp.compile(calibration=...)` accepts: a table, a .json path, or samples.
    sensitivity: the reference precision when the recipe needs output gains (measured from samples; a
    table must already have them)."""
    if isinstance(calibration, CalibrationTable | str | os.PathLike):
        table = calibration if isinstance(calibration, CalibrationTable) else CalibrationTable.load(calibration)
        if sensitivity and not table.sensitivity:
            raise QcompError(
                "the recipe's qc-assign-precision{sensitivity=output_mse|output_kl} needs output gains, and this "
                f"calibration table has none: calibrate(model, samples, sensitivity={sensitivity!r}) or pass samples"
            )
        return table
    return calibrate(model, calibration, method, percentile, target, sensitivity=sensitivity, hessian=hessian)


class _CallableModule(types.ModuleType):
    """`qcomp.calibrate(model, samples, ...)` (as README writes it) calls `calibrate`; the module's other names
    (`CalibrationTable`, `attach`, ...) stay where they are."""

    def __call__(self, *args, **kwargs) -> CalibrationTable:
        return calibrate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
