"""Moved to `targets/common/vector_math.py` (the CPU and GPU code generators share it). Re-exported here."""

from qcomp.targets.common.vector_math import FUNCTIONS as FUNCTIONS
from qcomp.targets.common.vector_math import erf as erf
from qcomp.targets.common.vector_math import exp as exp
from qcomp.targets.common.vector_math import tanh as tanh
