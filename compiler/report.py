"""Rendering of compile reports (`CompiledModel.report`, `report.json`) for `qcomp report` and `qcomp eval`.

    precision_table(plan)     the per-layer precision map of qc-assign-precision, with counts per precision
    frontier_table(plan)      its Pareto frontier: least predicted error at each average weight bit width
    budget_table(rows, ...)   measured (avg_wbits, metric) points of `qcomp eval --budget B1,B2,...`
    plot_pareto(points, png)  a PNG of either (matplotlib, Agg backend)

A layer's short name comes from its MLIR location: the first call-site frame outside torch
(`modeling_llama.py:244`), named after the `self.<attr>(` call on that source line when the file is
readable and the call unique (`q_proj`); layers from the same source line (one per block) are numbered in
order (`q_proj[0]`, `q_proj[1]`).
"""

import json
import linecache
import os
import re
from collections.abc import Mapping, Sequence

from qcomp.dialects.errors import QcompError

FRAME = re.compile(r'"([^"]+)":(\d+):\d+')
CALL = re.compile(r"\bself\.([A-Za-z_]\w*)\s*\(")
Point = tuple[float, float]


def load_report(path: str) -> dict:
    """The report dict from a `qcomp compile -o DIR` directory or a report.json file."""
    file = os.path.join(path, "report.json") if os.path.isdir(path) else path
    if not os.path.exists(file):
        if os.path.isdir(path):
            raise QcompError(f"{path}: no report.json in this directory (write one with qcomp compile -o {path})")
        raise QcompError(f"{path}: no such file or directory")
    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise QcompError(f"{file}: cannot read: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise QcompError(f"{file}: not a JSON report: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict) or not isinstance(data.get("ops"), list) or not isinstance(data.get("recipe"), dict):
        raise QcompError(f"{file}: not a qcomp compile report (needs 'ops' and 'recipe')")
    plan = data.get("precision_plan")
    if plan is not None:
        missing = [k for k in ("avg_wbits", "budget", "budget_kind", "layers", "frontier") if k not in plan]
        if missing:
            raise QcompError(f"{file}: precision_plan lacks {', '.join(missing)}")
    return data


def _source(location: str) -> tuple[str, int] | None:
    """(path, line) of the first call-site frame outside torch itself."""
    frames = [(p, int(n)) for p, n in FRAME.findall(location)]
    user = [f for f in frames if "/site-packages/torch/" not in f[0] and "/torch/nn/" not in f[0]]
    return (user or frames or [None])[0]


def layer_names(locations: Sequence[str]) -> list[tuple[str, str]]:
    """(short name, source file:line) per location; a name from a source line that recurs (one per block) gets
    [k] in order of appearance."""
    base = []
    for loc in locations:
        src = _source(loc)
        if src is None:
            text = loc.removeprefix("loc(").removesuffix(")").strip('"')
            base.append((text[:40], ""))
            continue
        path, line = src
        where = f"{os.path.basename(path)}:{line}"
        calls = set(CALL.findall(linecache.getline(path, line)))
        base.append((calls.pop() if len(calls) == 1 else where, where))
    total: dict[tuple[str, str], int] = {}
    for key in base:
        total[key] = total.get(key, 0) + 1
    seen: dict[tuple[str, str], int] = {}
    out = []
    for key in base:
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append((f"{key[0]}[{k}]" if total[key] > 1 else key[0], key[1]))
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))

    return [line(c).rstrip() for c in (header, ["-" * w for w in widths], *rows)]


def plan_summary(plan: Mapping) -> str:
    """One line: the achieved average bits and bytes against the budget, the method and the times."""
    s = (
        f"avg_wbits {plan['avg_wbits']:.4f}, {plan.get('bytes', 0) / 1e3:.1f} kB weights"
        + (f", estimated latency {plan['latency_ms']:.3f} ms" if "latency_ms" in plan else "")
        + f", budget {plan['budget']:g} {plan['budget_kind']}; method {plan.get('method', '?')}, "
        f"sensitivity {plan.get('sensitivity', '?')}"
    )
    if "gain_reference" in plan:
        s += f" (gains at {plan['gain_reference']})"
    if "sensitivity_s" in plan:
        s += f"; sensitivity {plan['sensitivity_s']:.2f} s, solver {plan.get('solver_s', 0.0):.3f} s"
    return s


def precision_table(plan: Mapping) -> str:
    """The per-layer precision map, then layers/params/share per precision and the predicted total error."""
    layers = plan["layers"]
    names = layer_names([r["location"] for r in layers])
    rows = [
        [str(i), name, where, r["precision"], f"{r['params']:,}", f"{r['error']:.3e}"]
        for i, (r, (name, where)) in enumerate(zip(layers, names, strict=True))
    ]
    lines = _table(["#", "layer", "source", "precision", "params", "pred. error"], rows, [1, 0, 0, 0, 1, 1])
    total = sum(r["params"] for r in layers) or 1
    per: dict[str, list[int]] = {}
    for r in layers:
        c = per.setdefault(r["precision"], [0, 0])
        c[0] += 1
        c[1] += r["params"]
    counts = [[p, str(n), f"{q:,}", f"{100 * q / total:.1f}%"] for p, (n, q) in sorted(per.items())]
    lines += ["", *_table(["precision", "layers", "params", "share"], counts, [0, 1, 1, 1])]
    lines += ["", plan_summary(plan)]
    if "error" in plan:
        lines.append(f"predicted output error (sum over layers): {plan['error']:.4e}")
    return "\n".join(lines)


def _x(plan: Mapping) -> str:
    """The key of the frontier's budget axis (and of the plan's value on it): avg_wbits, bytes or latency_ms."""
    return {"bytes": "bytes", "latency": "latency_ms"}.get(plan.get("budget_kind", ""), "avg_wbits")


def _chosen_index(frontier: Sequence[Mapping], plan: Mapping) -> int | None:
    """The frontier point the plan chose (same cost and error), or None (e.g. method=first_last)."""
    x = _x(plan)
    for i, p in enumerate(frontier):
        if abs(p[x] - plan[x]) <= 1e-9 * max(1.0, abs(plan[x])) and abs(
            p["error"] - plan.get("error", p["error"])
        ) <= max(1e-12, 1e-9 * abs(p["error"])):
            return i
    return None


def frontier_table(plan: Mapping, max_rows: int = 25) -> str:
    """avg_wbits vs least predicted error along the frontier (evenly thinned to about `max_rows`, always
    keeping both ends and the chosen point), the chosen point marked."""
    frontier = plan["frontier"]
    if not frontier:
        return "Pareto frontier: empty"
    chosen = _chosen_index(frontier, plan)
    n = len(frontier)
    keep = set(range(n)) if n <= max_rows else {round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)}
    if chosen is not None:
        keep.add(chosen)
    x = _x(plan)
    rows = [
        [f"{frontier[i][x]:.4f}", f"{frontier[i]['error']:.4e}", "<- chosen" if i == chosen else ""]
        for i in sorted(keep)
    ]
    head = f"Pareto frontier ({n} points" + (f", {len(keep)} shown" if len(keep) < n else "") + "):"
    lines = [head, *_table([x, "pred. error", ""], rows, [1, 1, 0])]
    if chosen is None:
        lines.append(
            f"chosen assignment ({x} {plan[x]:.4f}, error {plan.get('error', float('nan')):.4e}) "
            f"is not on the frontier (method {plan.get('method', '?')})"
        )
    return "\n".join(lines)


def op_precisions(report: Mapping) -> str:
    """Per-op-kind precision counts of a report without a precision plan."""
    counts: dict[tuple[str, str], int] = {}
    for r in report["ops"]:
        key = (r.get("op", "?"), str(r.get("precision", "?")))
        counts[key] = counts.get(key, 0) + 1
    rows = [[op, prec, str(n)] for (op, prec), n in sorted(counts.items())]
    return "\n".join(_table(["op", "precision", "count"], rows, [0, 0, 1]))


def _target_name(report: Mapping) -> str:
    t = report.get("target", "?")
    return t.get("name", "?") if isinstance(t, Mapping) else str(t)  # reports before target became a dict


def summary(report: Mapping) -> str:
    """Model, recipe, target, weight sizes, calibration and the compile-time check, a few lines."""
    rec = report["recipe"]
    lines = [f"model {report.get('model', '?')} on {_target_name(report)}, recipe {rec.get('name', '?')}"]
    if rec.get("pipeline"):
        lines.append(f"  pipeline: {rec['pipeline']}")
    sizes = report.get("sizes")
    if sizes:
        fp32, q = sizes["weights_fp32_bytes"], sizes["weights_bytes"]
        lines.append(f"  weights: {fp32 / 1e3:.1f} kB fp32 -> {q / 1e3:.1f} kB ({q / max(fp32, 1):.3f}x)")
    if "calibration" in report:
        c = report["calibration"]
        lines.append(f"  calibration: {c.get('method')} on {c.get('samples')} samples")
    if "check" in report:
        c = report["check"]
        lines.append(f"  vs PyTorch: max rel err {c['max_rel_err']:.2e}, cosine {c['cosine']:.6f} (example inputs)")
    return "\n".join(lines)


def render(report: Mapping) -> str:
    """The whole text of `qcomp report`."""
    plan = report.get("precision_plan")
    parts = [summary(report)]
    if plan is None:
        parts.append("no qc-assign-precision ran (no precision_plan); precision per op:\n" + op_precisions(report))
    else:
        parts += ["precision map:\n" + precision_table(plan), frontier_table(plan)]
    return "\n\n".join(parts)


def budget_table(rows: Sequence[Mapping], fp32_value: float, metric: str) -> str:
    """Measured points of a budget sweep (dicts with budget, avg_wbits, value), by increasing bits; a point
    another one beats with no more bits is marked dominated (lower is better for perplexity)."""
    lower = metric != "cosine"

    def beats(o: Mapping, r: Mapping) -> bool:
        better = o["value"] < r["value"] if lower else o["value"] > r["value"]
        return o is not r and o["avg_wbits"] <= r["avg_wbits"] and better

    out = []
    for r in sorted(rows, key=lambda r: r["avg_wbits"]):
        ratio = r["value"] / fp32_value if fp32_value else float("nan")
        mark = "dominated" if any(beats(o, r) for o in rows) else ""
        out.append([f"{r['budget']:g}", f"{r['avg_wbits']:.4f}", f"{r['value']:.4f}", f"{ratio:.4f}", mark])
    return "\n".join(_table(["budget", "avg_wbits", metric, "x fp32", ""], out, [1, 1, 1, 1, 0]))


def plot_pareto(
    points: Sequence[Point] | Mapping[str, Sequence[Point]],
    path: str,
    *,
    xlabel: str = "average weight bits (scales included)",
    ylabel: str = "predicted output error",
    title: str = "",
    chosen: Point | None = None,
    reference: tuple[str, float] | None = None,
    budget: tuple[str, float] | None = None,
    logy: bool = False,
) -> None:
    """Write a PNG of one series of (x, y) points or of several ({label: points}), each sorted by x and drawn
    as a line with markers; `chosen` is ringed, `reference` = (label, y) is a dashed horizontal line and
    `budget` = (label, x) a dotted vertical one."""
    import matplotlib  # deferred: optional and heavy, only for --png / --plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred with matplotlib, after choosing its non-interactive backend

    series = dict(points) if isinstance(points, Mapping) else {"": points}
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    try:
        for label, pts in series.items():
            xs, ys = zip(*sorted(pts), strict=True) if pts else ((), ())
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=label or None)
        if chosen is not None:
            ax.plot(*chosen, marker="o", markersize=10, markerfacecolor="none", color="tab:red", label="chosen")
        if reference is not None:
            ax.axhline(reference[1], linestyle="--", color="gray", linewidth=1, label=reference[0])
        if budget is not None:
            ax.axvline(budget[1], linestyle=":", color="tab:red", linewidth=1, label=budget[0])
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        if any(series) or chosen is not None or reference is not None or budget is not None:
            ax.legend()
        fig.tight_layout()
        try:
            fig.savefig(path, format="png")
        except OSError as e:
            raise QcompError(f"{path}: cannot write the plot: {e.strerror or e}") from e
    finally:
        plt.close(fig)


def plot_frontier(plan: Mapping, path: str, title: str = "") -> None:
    """The predicted Pareto frontier of a precision plan, the chosen assignment ringed."""
    x = _x(plan)
    pts = [(p[x], p["error"]) for p in plan["frontier"]]
    plot_pareto(
        {"predicted frontier": pts},
        path,
        xlabel={"avg_wbits": "average weight bits (scales included)", "bytes": "weight bytes"}.get(
            x, "estimated latency (ms)"
        ),
        title=f"{title}: predicted Pareto frontier" if title else "qc-assign-precision: predicted Pareto frontier",
        chosen=(plan[x], plan["error"]) if "error" in plan else None,
        budget=(f"budget {plan['budget']:g}", plan["budget"]),
        logy=all(y > 0 for _, y in pts) and bool(pts),
    )
