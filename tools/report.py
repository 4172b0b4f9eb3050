"""Report rendering moved to the roof, `qcomp.report` (compiler/report.py, issue 18); these names stay importable."""

from qcomp.report import (  # noqa: F401
    budget_table,
    frontier_table,
    layer_names,
    load_report,
    op_precisions,
    plan_summary,
    plot_frontier,
    plot_pareto,
    precision_table,
    render,
    summary,
)
