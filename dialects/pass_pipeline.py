"""The pipeline runner's core: pipeline strings of our passes (with options) mixed with upstream MLIR passes.

    qc-quantize{wbits=8,abits=8},canonicalize,func.func(cse),qc-lower-to-linalg

MLIR cannot find Python passes by name, so the runner splits the string at top-level commas, runs
each of our passes itself and hands each run of consecutive upstream passes to `PassManager.parse`.
It can print the IR after every pass and times every pass. Passes whose `run` takes a second argument get the
run's `PassContext` (`ctx.target`: the Target object being compiled for; see `qcomp.passes.context`).

The registry (pipeline name -> pass class) is an argument: this module sits on the floor and knows no pass.
`qcomp.pipeline`, above the passes and targets, runs pipelines with every registered pass; a target that lowers
modules itself (its cost model's probes) passes its own `Target.passes`.
"""

import dataclasses
import inspect
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._mlir import ir, passmanager, run_pass_manager
from .errors import QcompError, mlir_error_text


def takes_context(p: Any) -> bool:
    """Whether pass `p`'s `run` takes the context as its second argument."""
    return len(inspect.signature(p.run).parameters) >= 2


def run_pass(p: Any, module, ctx: Any) -> None:
    """Run pass `p` on `module`, handing it `ctx` when its `run` takes one."""
    if takes_context(p):
        p.run(module, ctx)
    else:
        p.run(module)


def split_top_level(text: str) -> list[str]:
    """Split at commas that are not inside (), {} or <>."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "({<":
            depth += 1
        elif ch in ")}>":
            depth -= 1
            if depth < 0:
                raise QcompError(f"unbalanced brackets in pipeline {text!r}")
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if depth != 0:
        raise QcompError(f"unbalanced brackets in pipeline {text!r}")
    if cur.strip():
        parts.append(cur.strip())
    return [p for p in parts if p]


def _coerce(cls, key: str, value: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        known = ", ".join(fields) or "none"
        raise QcompError(f"{cls.name}: unknown option '{key}' (options: {known})")
    typ = fields[key].type
    typ = typ if isinstance(typ, type) else {"int": int, "float": float, "bool": bool, "str": str}.get(str(typ), str)
    try:
        if typ is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return value.lower() in ("true", "1")
        out = typ(value)
    except ValueError:
        raise QcompError(f"{cls.name}: option '{key}' expects {typ.__name__}, got {value!r}") from None
    # inf and nan parse as floats, and a huge integer as an int: both pass range checks written as `x > 0`
    if (typ is float and not math.isfinite(out)) or (typ is int and not -(2**31) <= out < 2**31):
        raise QcompError(f"{cls.name}: option '{key}' must be a finite number in the 32-bit range, got {value!r}")
    return out


def make_pass(spec: str, registry: dict[str, Any]):
    """`name{k=v,k2=v2}` -> an instance of our pass, or None when `name` is not ours."""
    name, _, rest = spec.partition("{")
    cls = registry.get(name.strip())
    if cls is None:
        return None
    opts = {}
    if rest:
        if not rest.endswith("}"):
            raise QcompError(f"malformed options in {spec!r}")
        for item in split_top_level(rest[:-1].replace(" ", ",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise QcompError(f"{cls.name}: option {item!r} must be key=value")
            opts[key.strip()] = _coerce(cls, key.strip(), value.strip())
    return cls(**opts)


def pass_spec(p) -> str:
    """Our pass `p` printed back as pipeline text, `name{k=v,...}` with the options that differ from their defaults
    (`make_pass(pass_spec(p), registry) == p`)."""
    opts = []
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if v == f.default and type(v) is type(f.default):  # MISSING (no default) never equals a value
            continue
        text = ("true" if v else "false") if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v)
        opts.append(f"{f.name}={text}")
    return p.name + (f"{{{','.join(opts)}}}" if opts else "")


@dataclass
class PassTiming:
    name: str
    seconds: float


@dataclass
class Pipeline:
    """A parsed pipeline: a list of steps, each our pass object or the text of one upstream pass."""

    steps: list[Any]
    timings: list[PassTiming] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, registry: dict[str, Any] | None = None) -> "Pipeline":
        """`text` split into steps: an instance of each pass `registry` names, the upstream passes as text."""
        registry = registry or {}
        steps: list[Any] = []
        for spec in split_top_level(text):
            p = make_pass(spec, registry)
            steps.append(spec if p is None else p)  # one step per pass: each is timed and printable
        return cls(steps)

    def validate(self, context: ir.Context) -> None:
        """Check the upstream parts parse (unknown pass names, bad options) without running anything."""
        for step in self.steps:
            if isinstance(step, str):
                _parse_upstream(step, context)

    def run(
        self,
        module: ir.Module,
        print_after_all: bool = False,
        printer: Callable[[str], None] | None = None,
        ctx: Any = None,
    ) -> None:
        """Run every step on `module`; our passes that take a context get `ctx`."""
        out = printer or (lambda s: print(s, file=sys.stderr))
        for step in self.steps:
            label = step if isinstance(step, str) else step.name
            start = time.perf_counter()
            if isinstance(step, str):
                _run_upstream(module, step)
            else:
                run_pass(step, module, ctx)
                _verify_after(module, label)
            self.timings.append(PassTiming(label, time.perf_counter() - start))
            if print_after_all:
                out(f"// -----// IR Dump After {label} //----- //\n{module.operation.get_asm(large_elements_limit=16)}")

    def timing_report(self) -> str:
        total = sum(t.seconds for t in self.timings) or 1e-9
        rows = [f"  {t.seconds * 1e3:9.2f} ms  {100 * t.seconds / total:5.1f}%  {t.name}" for t in self.timings]
        return "\n".join(["===-- pass timing --===", *rows, f"  {total * 1e3:9.2f} ms  100.0%  total"])


def _verify_after(module: ir.Module, label: str) -> None:
    """Our passes must leave valid IR; a violation is reported as the pass's bug, with the first diagnostic."""
    try:
        module.operation.verify()
    except ir.MLIRError as e:
        first = mlir_error_text(e).splitlines()[0]
        raise QcompError(f"{label} produced invalid IR (a qcomp bug, please report it): {first}") from None


def _parse_upstream(text: str, context: ir.Context):
    try:
        return passmanager.PassManager.parse(f"builtin.module({text})", context=context)
    except (ValueError, ir.MLIRError) as e:
        raise QcompError(f"unknown pass or bad options in {text!r}: {str(e).strip().splitlines()[0]}") from e


def _run_upstream(module: ir.Module, text: str) -> None:
    run_pass_manager(_parse_upstream(text, module.context), module)
