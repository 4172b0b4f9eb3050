"""GPU target: int8 kernels through MLIR gpu/nvgpu/NVVM to PTX, with a CPU emulation mode."""

from .target import GpuTarget

__all__ = ["GpuTarget"]
