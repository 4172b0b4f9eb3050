"""qcomp's cache folder (measured cost models, downloaded data): one place, read by the compiler and the targets."""

import os


def cache_dir() -> str:
    """qcomp's cache directory: $XDG_CACHE_HOME/qcomp or ~/.cache/qcomp."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "qcomp")
