"""The package import graph, computed from the source with `ast` (every import, at module level or inside a
function, but not under `if TYPE_CHECKING:`), checked against the layer rule of docs/architecture.md:

    floor  (dialects/; the compiler/ shims of the modules that moved there)  <  targets/base.py  <  passes/, targets/
    <  roof (compiler/, examples/)  <  tools/ (the CLI)

A module imports only its own layer and the ones below; a pass imports no target but targets/base.py; a target
imports no pass and no other target (shared code lives in targets/common/, which imports no target).
The tests fail on any import cycle or upward import (the lists of known ones below, kept while issue 18 broke
them, are empty now).
"""

import ast
import io
import pathlib
import tokenize

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = {  # folder -> package (pyproject.toml's package-dir)
    "compiler": "qcomp",
    "dialects": "qcomp.dialects",
    "passes": "qcomp.passes",
    "targets": "qcomp.targets",
    "tools": "qcomp.tools",
    "examples": "qcomp.examples",
}
# Re-export shims of modules that moved to the floor (dialects/); kept for code not yet rewritten (issue 18)
FLOOR = {"qcomp.errors", "qcomp.irutil", "qcomp.weights", "qcomp.clip_methods"}

# Strongly connected components of the import graph (issue 18 broke the last ones: the roof's api <-> calibrate
# loop, reference <-> reference_asym). A cycle among modules that are not all inside one of these sets fails.
KNOWN_CYCLES: list[set[str]] = []
# Imports against the layer rule (issue 18 removed the last: the GPU's emulation importing the CPU's JIT, now
# both on targets/common/host.py): "importer -> imported".
KNOWN_VIOLATIONS: set[str] = set()
# The roof's own order (docs/architecture.md): these modules import no other roof module but the built-in
# examples, and the compile core imports neither calibration nor the public API (calibration builds through it).
ROOF_LEAVES = ("qcomp.models", "qcomp.recipes", "qcomp.custom_ops", "qcomp.taps", "qcomp.export_result")
CORE = "qcomp.build"


def modules() -> dict[str, pathlib.Path]:
    """Every module of the qcomp packages, by its dotted name."""
    out = {}
    for folder, pkg in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([pkg, *parts])] = path
    return out


def _targets(mod: str, node: ast.Import | ast.ImportFrom, is_pkg: bool, known: dict) -> list[str]:
    """The qcomp modules an import statement of `mod` names (a package's __init__ for `from pkg import name`)."""
    if isinstance(node, ast.Import):
        names = [a.name.split(".") for a in node.names]
        return [n for parts in names for n in [_longest(parts, known)] if n]
    base = node.module or ""
    if node.level:
        pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names if base in known]


def _longest(parts: list[str], known: dict) -> str | None:
    return next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in known), None)


def _type_checking(node: ast.AST) -> bool:
    t = getattr(node, "test", None)
    return isinstance(node, ast.If) and "TYPE_CHECKING" in (getattr(t, "id", None), getattr(t, "attr", None))


def import_graph() -> dict[str, set[str]]:
    """module -> the qcomp modules it imports (explicitly: a parent package imported on the way is not counted)."""
    known = modules()
    graph = {}
    for mod, path in known.items():
        edges: set[str] = set()

        def visit(node: ast.AST, mod=mod, path=path, edges=edges) -> None:
            if _type_checking(node):
                for child in node.orelse:
                    visit(child)
                return
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges.update(_targets(mod, node, path.name == "__init__.py", known))
            for child in ast.iter_child_nodes(node):
                visit(child)

        visit(ast.parse(path.read_text(), str(path)))
        graph[mod] = edges - {mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def layer(mod: str) -> int:
    """0 floor, 1 targets/base.py, 2 passes and targets, 3 the roof (compiler/, examples/), 4 the tools (CLI)."""
    if mod.startswith("qcomp.dialects") or mod in FLOOR:
        return 0
    if mod == "qcomp.targets.base":
        return 1
    if mod.startswith(("qcomp.passes", "qcomp.targets")):
        return 2
    return 4 if mod.startswith("qcomp.tools") else 3


def _target_folder(mod: str) -> str | None:
    """`cpu` for qcomp.targets.cpu.jit; None for the registry (qcomp.targets) and targets/base.py."""
    parts = mod.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "targets" and parts[2] != "base" else None


def violation(a: str, b: str) -> str | None:
    """Why `a` importing `b` breaks the layer rule, or None."""
    if layer(b) > layer(a):
        return "upward"
    if layer(a) != 2 or layer(b) != 2:
        return None
    if a.startswith("qcomp.passes"):
        return None if b.startswith("qcomp.passes") else "a pass imports a target"
    if b.startswith("qcomp.passes"):
        return "a target imports a pass"
    ta, tb = _target_folder(a), _target_folder(b)
    if ta is None or ta == tb or tb == "common":
        return None
    return "a target imports the registry" if tb is None else "a target imports another target"


def violations(graph: dict[str, set[str]]) -> dict[str, str]:
    return {f"{a} -> {b}": why for a, bs in graph.items() for b in bs if (why := violation(a, b))}


# ----------------------------------------------------------------------------- tests
def test_graph_is_computed_from_the_source():
    graph = import_graph()
    assert "qcomp.dialects._mlir" in graph["qcomp.dialects.qc"]  # `from ._mlir import ...`
    assert "qcomp.targets.base" in graph["qcomp.targets.cpu.target"]  # `from qcomp.targets.base import ...`
    assert "qcomp.targets" in graph["qcomp.api"]  # `from qcomp import targets`: the package
    assert "qcomp.dialects.errors" in graph["qcomp.dialects.precision"]  # `from qcomp.dialects.errors import ...`


def test_cycle_and_violation_detection_can_fail():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert violation("qcomp.errors", "qcomp.api") == "upward"
    assert violation("qcomp.sweep_work", "qcomp.tools.qcomp_main") == "upward"  # the CLI is above the compiler
    assert violation("qcomp.tools.qcomp_main", "qcomp.api") is None
    assert violation("qcomp.passes.smooth", "qcomp.targets.cpu.jit") == "a pass imports a target"
    assert violation("qcomp.passes.smooth", "qcomp.targets.base") is None
    assert violation("qcomp.targets.npu.target", "qcomp.targets.cpu.jit") == "a target imports another target"
    assert violation("qcomp.targets.npu.target", "qcomp.targets.common.offload") is None
    assert violation("qcomp.targets.common.offload", "qcomp.targets.cpu.jit") == "a target imports another target"


def test_no_new_import_cycle():
    known = set().union(*KNOWN_CYCLES)
    new = [c for c in cycles(import_graph()) if not any(c <= k for k in KNOWN_CYCLES)]
    joined = [sorted(c - known) or sorted(c) for c in new]  # the modules that formed or joined a cycle
    assert not new, f"new import cycles (issue 18; break them, e.g. import from the floor): {joined}"


def test_no_new_import_against_the_layers():
    new = {e: why for e, why in violations(import_graph()).items() if e not in KNOWN_VIOLATIONS}
    assert not new, f"imports against the layer rule of docs/architecture.md (issue 18): {new}"


def test_roof_leaves_and_core_import_down_only():
    graph = import_graph()
    roof = {m for m in graph if layer(m) == 3 and not m.startswith("qcomp.examples")}
    up = {m: sorted(graph[m] & roof) for m in ROOF_LEAVES if graph[m] & roof}
    assert not up, f"roof leaves importing other roof modules: {up}"
    seen, todo = set(), [CORE]
    while todo:  # everything the compile core reaches
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(graph.get(mod, ()))
    above = {"qcomp", "qcomp.api", "qcomp.calibrate"}  # the package's lazy names reach the API
    assert not seen & above, f"{CORE} reaches {sorted(seen & above)}"


def test_light_floor_modules_load_no_mlir():
    """errors, precision, quant_math and cache import nothing that loads MLIR (`import qcomp` stays light)."""
    graph = import_graph()
    light = ["qcomp.dialects.errors", "qcomp.dialects.precision", "qcomp.dialects.quant_math", "qcomp.dialects.cache"]
    seen, todo = set(), list(light)
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(graph.get(mod, ()))
    assert "qcomp.dialects._mlir" not in seen, sorted(seen)
    assert "qcomp.dialects" not in graph["qcomp.dialects.errors"]


def bare_function_imports(path: pathlib.Path) -> list[str]:
    """`path:line: statement` for every import inside a function (not under `if TYPE_CHECKING:`) without a reason.

    The rule (issue 18: function-level imports only where they defer a heavy dependency or break a cycle, each
    with a reason): such an import has a `#` comment on one of its own lines or on the line directly above it, or
    it directly follows, in the same block, an import that has one (a run of imports shares its first reason).
    Comments that only steer tools (`# noqa`, `# type:`, `# pragma`) are no reason.
    """
    src = path.read_text()
    reasons = {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(src).readline)
        if tok.type == tokenize.COMMENT and not tok.string.lstrip("# ").startswith(("noqa", "type:", "pragma"))
    }
    bare = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if _type_checking(node):
            return
        in_function = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            reasoned = False  # the statement before is a reasoned import
            for stmt in block if isinstance(block, list) else []:
                if isinstance(stmt, ast.Import | ast.ImportFrom) and in_function:
                    lines = set(range(stmt.lineno - 1, stmt.end_lineno + 1))
                    reasoned = reasoned or bool(lines & reasons)
                    if not reasoned:
                        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                        bare.append(f"{where}:{stmt.lineno}: {ast.unparse(stmt)}")
                else:
                    reasoned = False
                visit(stmt, in_function)

    visit(ast.parse(src, str(path)), False)
    return bare


def test_function_level_imports_give_a_reason(tmp_path):
    bare = [line for path in modules().values() for line in bare_function_imports(path)]
    assert not bare, (
        "imports inside functions without a reason comment (issue 18): move them to the top of the module, or say "
        f"on the line (or the one above) what they defer, e.g. `# deferred: torch (heavy)`: {bare}"
    )
    sample = tmp_path / "sample.py"  # the check itself can fail
    sample.write_text(
        "def f():\n    import json\n\n\ndef g():\n    # deferred: torch (heavy)\n    import torch\n    import numpy\n"
        "    x = 1\n    import os\n"
    )
    found = bare_function_imports(sample)
    assert [s.split(": ", 1)[1] for s in found] == ["import json", "import os"], found
