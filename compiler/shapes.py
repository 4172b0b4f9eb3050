"""Moved to the floor: `qcomp.dialects.shapes`. This name stays for code not yet rewritten (issue 18)."""

from qcomp.dialects.shapes import *  # noqa: F403
from qcomp.dialects.shapes import SHAPES_ATTR, ShapeSpec, module_spec, spec_of  # noqa: F401
