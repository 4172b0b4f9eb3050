"""CIM target: compute-in-memory crossbar arrays (mapping, bit-sliced simulation, energy model)."""
