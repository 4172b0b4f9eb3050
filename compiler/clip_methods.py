"""Moved to the floor: `qcomp.dialects.quant_math`. This name stays for code not yet rewritten (issue 18)."""

from qcomp.dialects.quant_math import (  # noqa: F401
    BINS,
    KL_LEVELS,
    _sawtooth_integral,
    _smooth,
    kl_clip,
    mse_clip,
    percentile_clip,
    quant_mse,
)
