"""qcomp-opt: an mlir-opt for qcomp's pipelines, for lit tests.

qcomp-opt FILE.mlir -p 'qc-quantize{wbits=8},canonicalize' [--split-input-file]
          [--verify-diagnostics] [--print-ir-after-all] [--timing] [-o FILE]
"""

import argparse
import re
import sys

import numpy as np
from qcomp.dialects.errors import QcompError, mlir_error_text

SPLIT = re.compile(r"^// -----\s*$", re.M)
EXPECTED = re.compile(r"//\s*expected-(error|warning|note|remark)\s*(@[+-]?\w+)?\s*\{\{(.*?)\}\}")
LOC = re.compile(r'loc\("-":(\d+):(\d+)\)|(?<![\w/.])-:(\d+):(\d+)')


def _chunks(text: str, split: bool) -> list[tuple[int, str]]:
    """(first line offset, text) per input chunk; offsets keep diagnostics' line numbers file-relative."""
    if not split:
        return [(0, text)]
    out, start = [], 0
    for m in SPLIT.finditer(text):
        out.append((text.count("\n", 0, start), text[start : m.start()]))
        start = m.end()
    out.append((text.count("\n", 0, start), text[start:]))
    return out


def _diagnostics(err: Exception, filename: str) -> list[tuple[int, str]]:
    """(line, message) of each error in an MLIRError or a located QcompError."""
    from qcomp.dialects._mlir import PassFailure, ir  # deferred: MLIR (as below: `--help` stays fast)

    if isinstance(err, ir.MLIRError | PassFailure):
        diags = (
            err.diagnostics
            if isinstance(err, PassFailure)
            else [(str(d.location), d.message) for d in err.error_diagnostics]
        )
        out = []
        for loc, msg in diags:
            m = LOC.search(loc)
            out.append((_line(m), msg))
        return out
    m = LOC.search(str(err))
    return [(_line(m), re.sub(r"^.*?error: ", "", LOC.sub("", str(err))).lstrip(": "))]


def _line(m) -> int:
    return int(m.group(1) or m.group(3)) if m else 0


def _error_text(err: Exception, filename: str) -> str:
    from qcomp.dialects._mlir import PassFailure, ir  # deferred: MLIR

    if isinstance(err, ir.MLIRError | PassFailure):
        return mlir_error_text(err, filename)
    text = str(err)
    m = LOC.search(text)
    if not m:
        return f"error: {text}"
    # "prefix: <loc>: error: detail" -> "file:line:col: error: prefix: detail"
    rest = re.sub(r"^[:\s]*(error:\s*)?", "", text[m.end() :])
    prefix = text[: m.start()].rstrip()
    return f"{filename}:{m.group(1) or m.group(3)}:{m.group(2) or m.group(4)}: error: {prefix} {rest}".replace(
        ":  ", ": "
    )


def _verify(chunk: str, offset: int, diags: list[tuple[int, str]], filename: str) -> list[str]:
    """mlir-opt --verify-diagnostics: every expected-error is produced on its line, and nothing else."""
    expected = []
    for i, line in enumerate(chunk.splitlines()):
        for m in EXPECTED.finditer(line):
            if m.group(1) != "error":
                continue
            where, lineno = m.group(2), offset + i + 1
            if where and where not in ("@above", "@below"):
                lineno += int(where[1:])
            elif where == "@above":
                lineno -= 1
            elif where == "@below":
                lineno += 1
            expected.append((lineno, m.group(3)))
    problems, unmatched = [], list(diags)
    for lineno, text in expected:
        hit = next((d for d in unmatched if d[0] == lineno and text in d[1]), None)
        if hit is None:
            problems.append(f'{filename}:{lineno}: error: expected error "{text}" was not produced')
        else:
            unmatched.remove(hit)
    problems += [f"{filename}:{ln}: error: unexpected error: {msg}" for ln, msg in unmatched]
    return problems


MAX_NESTING = 500  # brackets, braces and parentheses (regions, operand lists, attributes)
OPEN, CLOSE = np.frombuffer(b"{([", np.uint8), np.frombuffer(b"})]", np.uint8)
_IGNORED = re.compile(r'"(?:\\.|[^"\\\n])*"|//[^\n]*')  # string literals and comments


def _depths(chunk: str) -> np.ndarray:
    """The bracket nesting depth after each character of `chunk` (strings and comments blanked)."""
    text = _IGNORED.sub(lambda m: " " * len(m.group()), chunk).encode("utf-8", "replace")
    b = np.frombuffer(text, np.uint8)
    step = np.isin(b, OPEN).astype(np.int64) - np.isin(b, CLOSE).astype(np.int64)
    return np.cumsum(step)


def nesting_depth(chunk: str) -> int:
    d = _depths(chunk)
    return int(d.max()) if d.size else 0


def depth_at(chunk: str, level: int) -> int:
    """The offset (in UTF-8 bytes, close enough for a line number of ASCII IR) where `level` is first reached."""
    return int(np.argmax(_depths(chunk) >= level))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="qcomp-opt", description=__doc__.splitlines()[0])
    ap.add_argument("input", help="MLIR file, or - for stdin")
    ap.add_argument("-p", "--pipeline", default="", help="pass pipeline, e.g. 'qc-quantize{wbits=8},cse'")
    ap.add_argument("--split-input-file", action="store_true", help="treat '// -----' as separate inputs")
    ap.add_argument("--verify-diagnostics", action="store_true", help="check expected-error annotations")
    ap.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass to stderr")
    ap.add_argument("--timing", action="store_true", help="print per-pass timing to stderr")
    ap.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    args = ap.parse_args(argv)

    from qcomp.dialects import new_context  # deferred: MLIR loads after the arguments parse
    from qcomp.dialects._mlir import PassFailure, ir
    from qcomp.pipeline import Pipeline  # deferred: loads MLIR (heavy)

    filename = "<stdin>" if args.input == "-" else args.input
    try:
        if args.input == "-":  # a text stream without a byte buffer (tests) is already decoded
            stdin = sys.stdin
            data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode("utf-8", "surrogateescape")
        else:
            with open(args.input, "rb") as f:
                data = f.read()
        text = data.decode("utf-8")
    except OSError as e:
        print(f"qcomp-opt: error: cannot read {filename}: {e.strerror}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as e:
        print(
            f"qcomp-opt: error: {filename}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
            file=sys.stderr,
        )
        return 1
    try:
        pipeline_text = args.pipeline
        Pipeline.parse(pipeline_text).validate(new_context())  # report a bad pipeline once, before any input
    except QcompError as e:
        print(f"qcomp-opt: error: {e}", file=sys.stderr)
        return 1

    outputs, failed = [], False
    for offset, chunk in _chunks(text, args.split_input_file):
        ctx = new_context()
        depth = nesting_depth(chunk)
        if depth > MAX_NESTING:  # MLIR's recursive parser and printer overflow the stack (8,000 modules: SIGSEGV)
            line = offset + 1 + chunk.count("\n", 0, depth_at(chunk, MAX_NESTING + 1))
            print(f"{filename}:{line}: error: nesting deeper than {MAX_NESTING} levels ({depth})", file=sys.stderr)
            failed = True
            continue
        try:
            with ctx, ir.Location.unknown():
                module = ir.Module.parse("\n" * offset + chunk)
                p = Pipeline.parse(pipeline_text)
                p.run(module, print_after_all=args.print_ir_after_all)
                if args.timing:
                    print(p.timing_report(), file=sys.stderr)
                outputs.append(str(module))
            if args.verify_diagnostics:
                problems = _verify(chunk, offset, [], filename)
                for line in problems:
                    print(line, file=sys.stderr)
                failed |= bool(problems)
        except (ir.MLIRError, PassFailure, QcompError) as e:
            if args.verify_diagnostics:
                problems = _verify(chunk, offset, _diagnostics(e, filename), filename)
                for line in problems:
                    print(line, file=sys.stderr)
                failed |= bool(problems)
            else:  # like mlir-opt: report, go on with the next chunk, fail at the end
                print(_error_text(e, filename), file=sys.stderr)
                failed = True
    if args.verify_diagnostics:
        return 1 if failed else 0
    result = "// -----\n".join(outputs)
    if args.output == "-":
        sys.stdout.write(result)
    else:
        with open(args.output, "w") as f:
            f.write(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
