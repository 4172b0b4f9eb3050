"""Moved to the floor: `qcomp.dialects.irutil`. This name stays for code not yet rewritten (issue 18)."""

from qcomp.dialects.irutil import *  # noqa: F403
from qcomp.dialects.irutil import __all__  # noqa: F401
