"""CIM target: compute-in-memory crossbar arrays (mapping, bit-sliced simulation, energy model)."""

from .target import CimTarget

__all__ = ["CimTarget"]
