"""Moved to the floor: `qcomp.dialects.errors`. This name stays for code not yet rewritten (issue 18)."""

from qcomp.dialects.errors import QcompError, _loc_text, mlir_error_text  # noqa: F401

__all__ = ["QcompError", "mlir_error_text"]
