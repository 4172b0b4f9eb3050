"""The calibration table: per-op activation statistics of one model, its fingerprint, files and loaders.

Below `qcomp.calibrate` (which runs a model to fill one) so that other producers of a table, as the block-streamed
calibration (`qcomp.calib_stream`), build the same type without importing the runner."""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field, replace

import numpy as np
from qcomp.dialects import reference as ref
from qcomp.dialects._mlir import ir
from qcomp.dialects.errors import QcompError
from qcomp.dialects.irutil import ops_named
from qcomp.dialects.quant_math import METHODS
from qcomp.dialects.weights import constant_array
from qcomp.passes import act_stats

FORMAT = "qcomp-calibration-table"
VERSION = 1
QUANTIZABLE = ("qc.linear", "qc.conv2d")
SAMPLE_ROWS = 512
ACT_SCALE = "qc.act_scale"
GAINS = {"mse": "qc.output_gain", "kl": "qc.output_gain_kl"}  # read by qc-assign-precision{sensitivity=output_*}


# ----------------------------------------------------------------------------- streaming statistics
# ----------------------------------------------------------------------------- fingerprint
def fingerprint(layers: list[tuple[str, np.ndarray | tuple]]) -> str:
    """Hash of the quantizable layers in walk order: op name, weight shape and (when constant) weight bytes."""
    h = hashlib.sha256()
    for name, w in layers:
        shape = tuple(w.shape) if isinstance(w, np.ndarray) else tuple(w)
        h.update(f"{name}{list(shape)};".encode())
        if isinstance(w, np.ndarray):
            arr = np.ascontiguousarray(w)
            h.update(str(arr.dtype).encode())
            h.update(hashlib.blake2b(memoryview(arr).cast("B")).digest())
    return h.hexdigest()[:32]


def _module_layers(module) -> list:
    ops = ops_named(module, *QUANTIZABLE)
    layers = []
    for op in ops:
        w = constant_array(op.operands[1])
        layers.append((op.name, w if w is not None else ()))
    return ops, layers


def module_fingerprint(module) -> str:
    """The fingerprint of a qc module (after qc-from-torch) as `attach` checks it."""
    return fingerprint(_module_layers(module)[1])


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class OpStats:
    """Statistics of one quantizable op's activation input."""

    key: str  # "<walk index>:<op name>:<weight shape>", e.g. "3:qc.linear:128x64"
    location: str
    absmax: np.ndarray  # per input channel, f32
    clips: dict[str, float]  # per-tensor clip value by method
    mean_abs: np.ndarray | None = None  # per input channel mean |x|, f32
    sample: np.ndarray | None = None  # [rows, channels] activation rows, f32 (not in the JSON: see save)
    output_gain: dict[str, float] | None = None  # {"mse", "kl"}: output error per unit of local error
    hessian: np.ndarray | None = None  # [K, K] 2·XᵀX / rows, f32 (qc-gptq; not in the JSON: see save)


@dataclass(frozen=True)
class CalibrationTable:
    """Per-op activation statistics of one model (see module docstring). `method` picks the clips used."""

    fingerprint: str
    method: str
    percentile: float
    samples: int
    ops: tuple[OpStats, ...] = field(default_factory=tuple)
    sensitivity: dict = field(default_factory=dict)  # {reference, seconds, samples} when gains were measured

    def __post_init__(self):
        if self.method not in METHODS:
            raise QcompError(f"calibration method must be one of {', '.join(METHODS)}, got {self.method!r}")

    def clip(self, i: int) -> float:
        return self.ops[i].clips[self.method]

    def scales(self, bits: int = 8) -> np.ndarray:
        """Per-op static activation scales: clip / (2^(bits-1)-1) in f32 (1 where the clip is 0)."""
        return ref.symmetric_scale(np.array([self.clip(i) for i in range(len(self.ops))], np.float32), bits)

    def attach(self, module) -> None:
        """`attach(module, self)` (what the compile core, `qcomp.build`, calls)."""
        attach(module, self)

    def using(self, method: str) -> CalibrationTable:
        """The same statistics with another method's clips."""
        return replace(self, method=method)

    # ---- persistence
    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "method": self.method,
            "percentile": self.percentile,
            "samples": self.samples,
            "ops": [
                {
                    "key": o.key,
                    "location": o.location,
                    "clips": o.clips,
                    "absmax": [float(v) for v in o.absmax],
                    **({"mean_abs": [float(v) for v in o.mean_abs]} if o.mean_abs is not None else {}),
                    **({"output_gain": o.output_gain} if o.output_gain is not None else {}),
                }
                for o in self.ops
            ],
            **({"sensitivity": self.sensitivity} if self.sensitivity else {}),
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the JSON table, and the activation row samples (when there are any) to `samples_path(path)`."""
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=1)
        if any(o.sample is not None for o in self.ops):
            np.savez(samples_path(path), **{str(i): o.sample for i, o in enumerate(self.ops) if o.sample is not None})
        if any(o.hessian is not None for o in self.ops):
            hs = {str(i): o.hessian for i, o in enumerate(self.ops) if o.hessian is not None}
            np.savez(hessians_path(path), **hs)

    @staticmethod
    def from_json(data, source: str = "calibration table") -> CalibrationTable:
        def bad(why: str) -> QcompError:
            return QcompError(f"{source}: not a valid calibration table: {why}")

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"'format' must be {FORMAT!r}")
        if data.get("version") != VERSION:
            raise bad(f"version {data.get('version')!r} is not supported (this qcomp reads version {VERSION})")
        for k, t in (("fingerprint", str), ("method", str), ("percentile", (int, float)), ("samples", int)):
            if not isinstance(data.get(k), t):
                raise bad(f"missing or mistyped '{k}'")
        if data["method"] not in METHODS or not isinstance(data.get("ops"), list):
            raise bad(f"'method' must be one of {', '.join(METHODS)} and 'ops' a list")
        ops = []
        for i, o in enumerate(data["ops"]):
            try:
                absmax = np.array(o["absmax"], np.float64).astype(np.float32)
                mean = np.array(o["mean_abs"], np.float64).astype(np.float32) if "mean_abs" in o else None
                clips = {m: float(o["clips"][m]) for m in METHODS}
                key, loc = str(o["key"]), str(o["location"])
                gain = o.get("output_gain")
                gain = {str(k): float(v) for k, v in gain.items()} if gain is not None else None
            except (KeyError, TypeError, ValueError) as e:
                raise bad(f"op {i}: {type(e).__name__}: {e}") from None
            if (
                absmax.ndim != 1
                or not np.isfinite(absmax).all()
                or not all(math.isfinite(c) and c >= 0 for c in clips.values())
            ):
                raise bad(f"op {i} ({key}): absmax must be a list of finite numbers and clips finite and >= 0")
            if mean is not None and mean.shape != absmax.shape:
                raise bad(f"op {i} ({key}): mean_abs must have the length of absmax")
            if gain is not None and not all(math.isfinite(g) and g >= 0 for g in gain.values()):
                raise bad(f"op {i} ({key}): output_gain must be finite and >= 0")
            if key.split(":", 1)[0] != str(i):  # keys are "<walk index>:<op>:<shape>", in walk order
                raise bad(f"op {i} has key {key!r}: the ops are out of order (a reordered or edited table)")
            ops.append(OpStats(key, loc, absmax, clips, mean, output_gain=gain))
        sens = data.get("sensitivity", {})
        if not isinstance(sens, dict) or (sens and not isinstance(sens.get("reference"), str)):
            raise bad("'sensitivity' must be an object with a 'reference' precision")
        return CalibrationTable(
            data["fingerprint"], data["method"], float(data["percentile"]), data["samples"], tuple(ops), sens
        )

    @staticmethod
    def load(path: str | os.PathLike) -> CalibrationTable:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise QcompError(f"{path}: cannot read calibration table: {str(e).splitlines()[0]}") from None
        table = CalibrationTable.from_json(data, str(path))
        ops = list(table.ops)
        for side, what in ((samples_path(path), "sample"), (hessians_path(path), "hessian")):
            if not os.path.exists(side):
                continue
            try:
                with np.load(side) as z:
                    rows = {int(k): np.asarray(z[k], np.float32) for k in z.files}
            except NPZ_ERRORS as e:  # corrupt or not an npz
                why = (str(e).splitlines() or [type(e).__name__])[0]
                raise QcompError(f"{side}: cannot read calibration {what}s: {why}") from None
            for i, r in rows.items():
                k = ops[i].absmax.shape[0] if 0 <= i < len(ops) else -1
                if r.ndim != 2 or r.shape[1] != k or (what == "hessian" and r.shape[0] != k):
                    raise QcompError(f"{side}: {what}s of op {i} do not fit the table {path}")
                ops[i] = replace(ops[i], **{what: r})
        return replace(table, ops=tuple(ops))


# What np.load raises on a damaged .npz; a damaged zip header can also claim encryption (RuntimeError) or a zip
# version or compression that zipfile does not support (NotImplementedError).
NPZ_ERRORS = (OSError, ValueError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile)


def samples_path(path: str | os.PathLike) -> str:
    """Where a table saved at `path` keeps its activation row samples: t.json -> t.samples.npz."""
    root, _ = os.path.splitext(os.fspath(path))
    return root + ".samples.npz"


def hessians_path(path: str | os.PathLike) -> str:
    """Where a table saved at `path` keeps its linear inputs' Hessians: t.json -> t.hessians.npz."""
    root, _ = os.path.splitext(os.fspath(path))
    return root + ".hessians.npz"


def _samples(samples) -> list[tuple]:
    if isinstance(samples, str | os.PathLike | CalibrationTable) or not hasattr(samples, "__iter__"):
        raise QcompError("calibration samples must be a list of input tuples")
    out = [tuple(s) if isinstance(s, tuple | list) else (s,) for s in samples]
    if not out:
        raise QcompError("calibration needs at least one sample")
    return out


def _refuse_non_finite(where: str, tensors) -> None:
    """NaN or inf in a calibration tensor would become every scale it reaches (NaN) or an infinite clip range."""
    for what, x in tensors:
        a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            at = [int(j) for j in np.unravel_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)]
            raise QcompError(f"{where}: {what} holds {a.reshape(-1)[np.ravel_multi_index(at, a.shape)]} at index {at}")


def attach(module, table: CalibrationTable, bits: int = 8) -> None:
    """Check `table` belongs to `module` (a qc module after qc-from-torch) and set on each qc.linear /
    qc.conv2d its static activation scale `qc.act_scale` and the statistics the outlier passes read."""
    ops, layers = _module_layers(module)
    fp = fingerprint(layers)
    if fp != table.fingerprint or len(ops) != len(table.ops):
        raise QcompError(
            f"calibration table does not match this model: it was made for a model with {len(table.ops)} "
            f"quantizable layers (fingerprint {table.fingerprint}), this one has {len(ops)} (fingerprint {fp})"
        )
    for i, ((name, w), st) in enumerate(zip(layers, table.ops, strict=True)):
        want = f"{i}:{name}:{'x'.join(map(str, np.shape(w)))}"
        if st.key != want:  # statistics matched by op identity, never by position alone
            raise QcompError(
                f"calibration table does not match this model: its op {i} is {st.key!r}, this model's layer {i} "
                f"is {want!r} (a reordered or edited table)"
            )
    scales = table.scales(bits)
    with module.context, ir.Location.unknown():
        act_stats.set_method(module, table.method, table.percentile)
        for op, s, st in zip(ops, scales, table.ops, strict=True):
            op.attributes[ACT_SCALE] = ir.FloatAttr.get(ir.F32Type.get(), float(s))
            act_stats.write(op, act_stats.ActStats(st.absmax, st.mean_abs, st.sample, st.hessian), rescale=False)
            for kind, g in (st.output_gain or {}).items():
                if kind in GAINS:
                    op.attributes[GAINS[kind]] = ir.FloatAttr.get(ir.F64Type.get(), float(g))
