"""Moved to the floor: `qcomp.dialects.weights`. This name stays for code not yet rewritten (issue 18)."""

from qcomp.dialects.weights import *  # noqa: F403
from qcomp.dialects.weights import _NP_TO_MLIR, __all__  # noqa: F401
