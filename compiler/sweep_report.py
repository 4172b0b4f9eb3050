"""A sweep's report: a markdown table and a PNG of metric vs bits / latency / energy, Pareto front marked.

Points are grouped by (model, target, metric); within a group a point is on the Pareto front of an axis when no
other point has no more of that axis (avg weight bits, measured latency per call, CIM energy per call) and a
metric at least as good, one of the two strictly. The table marks the front over average weight bits (`*`).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict

AXES = (
    ("avg_wbits", "average weight bits"),
    ("latency_ms", "measured latency per call (ms, median)"),
    ("energy_uj", "energy per call (µJ)"),
)


def pareto(points: list[tuple[float, float]], lower_is_better: bool) -> list[bool]:
    """Whether each (x, metric) is on the front: nothing else has x' <= x and a metric at least as good."""
    sign = 1.0 if lower_is_better else -1.0

    def beats(a, b):
        return a[0] <= b[0] and sign * a[1] <= sign * b[1] and (a[0] < b[0] or sign * a[1] < sign * b[1])

    return [not any(beats(q, p) for q in points if q is not p) for p in points]


def _groups(results: list[dict], finite: bool = True) -> dict[tuple, list[dict]]:
    """(model, target, metric) -> the points measured there (with a finite metric unless `finite` is False)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in results:
        if "error" not in r and (not finite or math.isfinite(r.get("value", math.nan))):
            groups[r["model"], r["target"], r["metric"]].append(r)
    return groups


def _fmt(v, digits: int = 4) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def markdown(name: str, results: list[dict]) -> str:
    lines = [f"# Sweep {name}", ""]
    for (model, target, metric), rows in _groups(results, finite=False).items():
        lower = rows[0]["lower_is_better"]
        front = pareto([(r["avg_wbits"], r["value"]) for r in rows], lower)
        front = [on and math.isfinite(r["value"]) for r, on in zip(rows, front, strict=True)]
        lines += [
            f"## {model} on {target}: {metric} ({'lower' if lower else 'higher'} is better; fp32 "
            f"{_fmt(rows[0]['fp32_value'], 6)})",
            "",
            "| recipe | seed | avg wbits | " + metric + " | vs fp32 | latency ms/call | energy µJ/call | compile s | "
            "Pareto |",
            "|---|---:|---:|---:|---:|---:|---:|---:|:---:|",
        ]
        order = sorted(zip(rows, front, strict=True), key=lambda rf: (rf[0]["avg_wbits"], rf[0]["recipe"]))
        for r, on in order:
            ref = r["fp32_value"]
            vs = r["value"] / ref if ref else None
            lines.append(
                f"| {r['recipe']} | {r['seed']} | {r['avg_wbits']:.3f} | {_fmt(r['value'], 6)} | {_fmt(vs, 4)} | "
                f"{r['latency_ms']:.2f} | {_fmt(r.get('energy_uj'))} | {r['compile_s']:.1f} | {'*' if on else ''} |"
            )
        lines.append("")
    failed = [r for r in results if "error" in r]
    if failed:
        lines += ["## Failed points", ""] + [f"- {r['error']}" for r in failed] + [""]
    lines.append("`vs fp32`: ratio to the fp32 reference (none for rel_mse, whose fp32 value is 0). `*`: on the")
    lines.append(
        "Pareto front of average weight bits vs the metric within the table. Latency: median wall time of a call."
    )
    return "\n".join(lines) + "\n"


def plot(name: str, results: list[dict], path: str) -> bool:
    """One row per (model, target, metric), one column per axis that has data; False when nothing to plot."""
    import matplotlib  # deferred: matplotlib (heavy)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: matplotlib (heavy)

    groups = _groups(results)
    if not groups:
        return False
    axes = [(k, t) for k, t in AXES if any(r.get(k) is not None for rows in groups.values() for r in rows)]
    recipes = sorted({r["recipe"] for rows in groups.values() for r in rows})
    colors = {rec: plt.get_cmap("tab10")(i % 10) for i, rec in enumerate(recipes)}
    fig, grid = plt.subplots(len(groups), len(axes), figsize=(5 * len(axes), 3.8 * len(groups)), squeeze=False)
    try:
        for row, ((model, target, metric), rows) in enumerate(groups.items()):
            lower = rows[0]["lower_is_better"]
            for col, (key, title) in enumerate(axes):
                ax = grid[row][col]
                pts = [r for r in rows if r.get(key) is not None]
                for r in pts:
                    ax.scatter(r[key], r["value"], color=colors[r["recipe"]], s=28, zorder=3)
                    ax.annotate(
                        r["recipe"], (r[key], r["value"]), fontsize=6, xytext=(3, 3), textcoords="offset points"
                    )
                on_front = pareto([(r[key], r["value"]) for r in pts], lower)
                front = sorted((r[key], r["value"]) for r, on in zip(pts, on_front, strict=True) if on)
                if front:
                    ax.step(*zip(*front, strict=True), where="post", color="black", linewidth=1, label="Pareto front")
                    ax.scatter(*zip(*front, strict=True), s=90, facecolors="none", edgecolors="black", zorder=4)
                if metric != "rel_mse":
                    ax.axhline(rows[0]["fp32_value"], linestyle="--", color="gray", linewidth=1, label="fp32")
                ax.set_xlabel(title)
                ax.set_ylabel(metric + (" (lower is better)" if lower else " (higher is better)"))
                ax.set_title(f"{model} on {target}", fontsize=9)
                ax.grid(True, alpha=0.3)
                if metric == "rel_mse":
                    ax.set_yscale("log")
                if col == 0 and row == 0:
                    handles = [
                        plt.Line2D([], [], marker="o", linestyle="", color=c, label=rec) for rec, c in colors.items()
                    ]
                    ax.legend(handles=handles + ax.get_legend_handles_labels()[0], fontsize=7)
        fig.suptitle(f"sweep {name}")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return True


def write_report(name: str, results: list[dict], out_dir: str) -> list[str]:
    """results.md and pareto.png (when some point succeeded) in `out_dir`; the names written."""
    written = []
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(markdown(name, results))
    written.append("results.md")
    if plot(name, results, os.path.join(out_dir, "pareto.png")):
        written.append("pareto.png")
    return written
