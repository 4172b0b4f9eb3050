"""The host CPU's instruction sets: moved to `targets/common/isa.py`, which the accelerators' simulators read too
(a target imports no other target). Re-exported here for the CPU code generator."""

from qcomp.targets.common.isa import ISA_FEATURES as ISA_FEATURES
from qcomp.targets.common.isa import ISAS as ISAS
from qcomp.targets.common.isa import LANES as LANES
from qcomp.targets.common.isa import cpu_flags as cpu_flags
from qcomp.targets.common.isa import has_vnni as has_vnni
from qcomp.targets.common.isa import host_isa as host_isa
