"""Where a JIT-compiled qcomp step spends its time: `perf record` with the JIT's kernels named (a perf map).

perf cannot name code the JIT wrote into anonymous memory; `perf_map` writes /tmp/perf-<pid>.map from the engine's
object file (`nm`: each function's offset and size) and the engine's own address of `main` (the object is loaded
as one block, so one address gives them all). `profile` samples this process while `work` runs and returns the
share of samples per kernel kind (`__qc_qlinear_7_packed_pairs` -> qlinear; code outside the JIT by its library).
A benchmark helper (bench/decode.py --profile), not part of the package.
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable


def perf_map(fn) -> int:
    """Write the JitFunction `fn`'s functions into /tmp/perf-<pid>.map (appended); returns how many."""
    with tempfile.TemporaryDirectory() as d:
        obj = os.path.join(d, "jit.o")
        fn.engine.dump_to_object_file(obj)
        nm = subprocess.run(["nm", "-S", "--defined-only", obj], capture_output=True, text=True, check=True).stdout
    syms = [
        (int(a, 16), int(s, 16), name)
        for a, s, kind, name in (ln.split() for ln in nm.splitlines() if len(ln.split()) == 4)
        if kind in "tT"
    ]
    at = {name: a for a, _, name in syms}
    base = fn.engine.raw_lookup("main") - at["_mlir_main"]  # the engine looks names up as _mlir_<name>
    with open(f"/tmp/perf-{os.getpid()}.map", "a") as f:
        for a, size, name in syms:
            f.write(f"{base + a:x} {size:x} {name}\n")
    return len(syms)


def kind(symbol: str, dso: str) -> str:
    """The kernel kind of a JIT symbol (its qc op), or the library of any other code."""
    m = re.match(r"(?:_mlir_ciface_)?__qc_([a-z_]+?)_\d+", symbol)
    if m:
        return m.group(1)
    if dso.startswith("[JIT]"):
        return "main (glue)" if symbol in ("main", "_mlir_ciface_main", "_mlir_main") else symbol
    return f"[{dso}]"


def profile(fn, work: Callable[[], None], seconds: float, data: str) -> list[tuple[str, float]] | None:
    """Shares (%) of the samples per kernel kind while `work()` runs repeatedly for `seconds` (None without perf)."""
    if shutil.which("perf") is None or shutil.which("nm") is None:
        return None
    perf_map(fn)
    rec = subprocess.Popen(
        ["perf", "record", "-F", "499", "-o", data, "-p", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    t = time.perf_counter()
    while time.perf_counter() - t < seconds:
        work()
    rec.send_signal(signal.SIGINT)
    rec.wait()
    rep = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    os.remove(f"/tmp/perf-{os.getpid()}.map")
    shares: Counter = Counter()
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.+?)\s+\[[.k]\]\s+(\S+)", line)
        if m:
            shares[kind(m.group(3), m.group(2))] += float(m.group(1))
    return shares.most_common()
