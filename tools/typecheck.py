"""`make test`'s type check: mypy over the floor (dialects/), passes/ and targets/base.py, by their package names.

pyproject.toml maps the folders onto one import root (`compiler/` is `qcomp`, `dialects/` is `qcomp.dialects`,
...), which mypy cannot read, so this builds that package tree out of symbolic links under build/typecheck/ and
runs mypy there with the `[tool.mypy]` settings of pyproject.toml. Usage: python -m qcomp.tools.typecheck [MYPY ARGS]
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / "typecheck"
FOLDERS = {"dialects": "dialects", "passes": "passes", "targets": "targets", "tools": "tools", "examples": "examples"}
CHECKED = ["-p", "qcomp.dialects", "-p", "qcomp.passes", "-m", "qcomp.targets.base"]


def build_tree() -> pathlib.Path:
    """build/typecheck/qcomp: compiler/*.py linked file by file, the other folders linked whole."""
    pkg = TREE / "qcomp"
    pkg.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (ROOT / "compiler").glob("*.py")}
    wanted.update({name: ROOT / folder for name, folder in FOLDERS.items()})
    for entry in pkg.iterdir():  # links of files that are gone
        if entry.name not in wanted:
            entry.unlink()
    for name, target in wanted.items():
        link = pkg / name
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(target, pkg))
    return TREE


def main(argv: list[str] | None = None) -> int:
    build_tree()
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *CHECKED, *(argv or [])]
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, "MYPYPATH": str(TREE)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
