"""CPU buffer hygiene: cumsum scans become analysable linalg, deallocations move to the last use."""

import numpy as np
import torch
from qcomp.dialects import new_context
from qcomp.dialects._mlir import ir
from qcomp.dialects.irutil import main_func, ops_named
from qcomp.targets.cpu.buffers import scans_to_linalg, sink_deallocs

MEMREF_MAIN = """
func.func private @use(%a: memref<4xf32>)
func.func @main(%x: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  memref.copy %x, %a : memref<4xf32> to memref<4xf32>
  %v = memref.expand_shape %a [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  %b = memref.alloc() : memref<2x2xf32>
  memref.copy %v, %b : memref<2x2xf32> to memref<2x2xf32>
  %c = memref.alloc() : memref<4xf32>
  func.call @use(%c) : (memref<4xf32>) -> ()
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<2x2xf32>
  memref.dealloc %c : memref<4xf32>
  return
}
"""


def test_dealloc_moves_after_last_use_of_the_buffer_or_its_views():
    with new_context(), ir.Location.unknown():
        m = ir.Module.parse(MEMREF_MAIN)
        sink_deallocs(m, main_func(m))
        lines = [line.strip() for line in str(main_func(m)).splitlines()]
    # %a dies after the copy out of its view, %b right after its copy, %c after the call
    i_copy_b = next(i for i, line in enumerate(lines) if line.startswith("memref.copy %expand_shape"))
    assert set(lines[i_copy_b + 1 : i_copy_b + 3]) == {
        "memref.dealloc %alloc : memref<4xf32>",
        "memref.dealloc %alloc_0 : memref<2x2xf32>",
    }
    assert lines[i_copy_b + 3].startswith("%alloc_1 = memref.alloc()")
    assert lines[-4].startswith("call @use(%alloc_1)")
    assert lines[-3:] == ["memref.dealloc %alloc_1 : memref<4xf32>", "return", "}"]


def test_inclusive_cumsum_scan_becomes_linalg_and_matches_torch():
    import qcomp

    class Cumsum(torch.nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1)

    x = torch.randint(-5, 5, (3, 7), dtype=torch.int64)
    cm = qcomp.compile(Cumsum(), (x,), recipe="fp32")
    got = cm(x)
    got = got[0] if isinstance(got, tuple) else got
    np.testing.assert_array_equal(got.numpy(), torch.cumsum(x, dim=1).numpy())
    assert "tm_tensor" not in cm.stages["llvm"]


def test_scan_rewrite_leaves_no_tm_tensor_ops():
    from qcomp.frontend import import_torch
    from qcomp.pipeline import run_pipeline

    class Cumsum(torch.nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=-1) * 2.0

    mod = import_torch(Cumsum(), (torch.randn(2, 5),))
    run_pipeline(mod, "qc-from-torch,qc-lower-to-linalg")
    assert ops_named(mod, "tm_tensor.scan")
    scans_to_linalg(mod)
    assert not ops_named(mod, "tm_tensor.")
    assert ops_named(mod, "func.call")


KERNEL_RETURNING_VIEW = """
func.func private @k(%x: memref<6x4xf32>, %out: memref<2x3x4xf32>) {
  %a = memref.alloc() : memref<6x4xf32>
  linalg.add ins(%x, %x : memref<6x4xf32>, memref<6x4xf32>) outs(%a : memref<6x4xf32>)
  %v = memref.expand_shape %a [[0, 1], [2]] output_shape [2, 3, 4] : memref<6x4xf32> into memref<2x3x4xf32>
  memref.copy %v, %out : memref<2x3x4xf32> to memref<2x3x4xf32>
  memref.dealloc %a : memref<6x4xf32>
  return
}
func.func private @kernel(%x: memref<4xf32>, %out: memref<4xf32>)
func.func @main_like(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  func.call @kernel(%x, %a) : (memref<4xf32>, memref<4xf32>) -> ()
  memref.copy %a, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  return
}
func.func private @returns_alloc_itself(%x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  memref.copy %x, %a : memref<4xf32> to memref<4xf32>
  memref.copy %a, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  return
}
"""


def test_kernel_builds_its_reshaped_result_in_the_out_parameter():
    from qcomp.targets.cpu.buffers import write_results_in_place

    with new_context(), ir.Location.unknown():
        m = ir.Module.parse(KERNEL_RETURNING_VIEW)
        assert write_results_in_place(m) == 2
        assert m.operation.verify()
        k, _, main_like, other = (str(op) for op in m.body.operations)
        # the add writes through a collapsed view of %out; no copy, no dealloc of the caller's buffer
        assert "memref.collapse_shape %arg1" in k
        assert "memref.copy" not in k
        assert "memref.dealloc" not in k
        assert "memref.alloc" not in k
        # a kernel's output buffer copied whole into the out-argument: the kernel writes the argument itself
        assert "call @kernel(%arg0, %arg1)" in main_like
        assert "memref.copy" not in main_like
        assert other.count("memref.copy") == 2  # the alloc is also a copy's target: left alone
