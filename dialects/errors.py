"""qcomp's user-facing errors: one line that names what is wrong and where."""


class QcompError(Exception):
    """A user error (bad input, unsupported model, malformed IR). The tools print it as one line."""


def mlir_error_text(err, filename: str | None = None) -> str:
    """One line per diagnostic of an MLIRError, `file:line:col: error: message` when the location has one."""
    lines = []
    for loc, msg in getattr(err, "diagnostics", []):
        lines.append(f"{_loc_text(loc, filename)}: error: {msg}")
    for d in getattr(err, "error_diagnostics", []) or []:
        lines.append(f"{_loc_text(str(d.location), filename)}: error: {d.message}")
        lines += [f"{_loc_text(str(n.location), filename)}: note: {n.message}" for n in d.notes]
    return "\n".join(lines) or str(err).strip().splitlines()[-1]


def _loc_text(loc: str, filename: str | None = None) -> str:
    # loc("file":3:8) -> file:3:8 ; the parser's "-" becomes the input's file name
    if filename:
        loc = loc.replace('loc("-"', f'loc("{filename}"')
    if loc.startswith('loc("') and loc.endswith(")"):
        body = loc[5:-1]
        name, _, rest = body.partition('"')
        return name + rest
    return loc
