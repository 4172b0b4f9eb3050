# lit configuration for qcomp's IR tests: `qcomp-opt` runs through the interpreter that runs lit.
import os
import sys

import lit.formats

config.name = "qcomp"
config.test_format = lit.formats.ShTest()  # lit's internal shell (has `not` and pipes)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["lit.cfg.py"]
bindir = os.path.dirname(sys.executable)
config.substitutions.append(("qcomp-opt", f"{sys.executable} -m qcomp.tools.qcomp_opt"))
config.substitutions.append(("%python", sys.executable))
config.environment["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
config.environment["HF_HUB_OFFLINE"] = "1"
