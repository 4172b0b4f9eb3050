"""The files qcomp reads, handed foreign, damaged or reordered copies: a model.weights of another compile with
the same shapes, bit flips and truncations (the C loader and `aot.read_weights`) are refused in one line."""

import ctypes
import shutil

import numpy as np
import pytest
import qcomp
import torch
from qcomp.dialects.errors import QcompError
from qcomp.targets.cpu import aot

CC = shutil.which("cc") or shutil.which("gcc")
X = torch.randn(4, 64, generator=torch.Generator().manual_seed(0))


def _saved(tmp_path_factory, seed: int, recipe: str = "fp32"):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    cm = qcomp.compile(model, (X,), target="cpu", recipe=recipe)
    out = tmp_path_factory.mktemp(f"seed{seed}-{recipe}")
    cm.save(str(out))
    return cm, out


@pytest.fixture(scope="module")
def two_compiles(tmp_path_factory):
    """The same architecture compiled twice with other weights: files of identical shapes."""
    return _saved(tmp_path_factory, 0), _saved(tmp_path_factory, 1)


class Loader:
    """model.so of one compile, loaded with ctypes."""

    def __init__(self, directory):
        self.lib = ctypes.CDLL(str(directory / "model.so"))
        self.lib.qcomp_model_load.restype = ctypes.c_void_p
        self.lib.qcomp_error.restype = ctypes.c_char_p

    def error(self, path) -> str | None:
        """None when `path` loads, else the loader's one-line error."""
        m = self.lib.qcomp_model_load(str(path).encode())
        if m:
            self.lib.qcomp_model_free(ctypes.c_void_p(m))
            return None
        return self.lib.qcomp_error().decode()


def test_python_reader_checks_identity_and_crc(two_compiles, tmp_path):
    (cm_a, a), (_, b) = two_compiles
    ident = aot.model_id(cm_a.artifact.fn.llvm_text, cm_a.artifact.fn.weights)
    got = aot.read_weights(str(a / "model.weights"), ident)
    assert all(np.array_equal(x, y) for x, y in zip(got, cm_a.artifact.fn.weights, strict=True))
    with pytest.raises(QcompError, match=r"model.weights: weights of another compile \(model id [0-9a-f]{32}"):
        aot.read_weights(str(b / "model.weights"), ident)
    data = bytearray((a / "model.weights").read_bytes())
    data[-5] ^= 0x10  # one bit of the last array
    (tmp_path / "flip.weights").write_bytes(bytes(data))
    with pytest.raises(QcompError, match=r"flip.weights: damaged: the CRC-32 of its contents"):
        aot.read_weights(str(tmp_path / "flip.weights"))


@pytest.mark.skipif(CC is None, reason="no C compiler: model.so is not built")
def test_c_loader_refuses_foreign_and_damaged_weights(two_compiles, tmp_path):
    # a model.weights of another compile with the same shapes was accepted (output matching neither model)
    (_, a), (_, b) = two_compiles
    loader = Loader(a)
    assert loader.error(a / "model.weights") is None
    err = loader.error(b / "model.weights")
    assert "weights of another compile (model id " in (err or "")
    data = bytearray((a / "model.weights").read_bytes())
    data[len(data) // 2] ^= 0x01  # most payload bit flips passed silently
    (tmp_path / "flip.weights").write_bytes(bytes(data))
    assert "flip.weights: damaged: the CRC-32" in loader.error(tmp_path / "flip.weights")


@pytest.mark.skipif(CC is None, reason="no C compiler: model.so is not built")
def test_weights_loaders_never_crash_on_mutations(two_compiles, tmp_path):
    # random truncations, bit flips and header rewrites: every load is refused in one line by both loaders
    (_, a), _ = two_compiles
    loader = Loader(a)
    good = (a / "model.weights").read_bytes()
    rng = np.random.default_rng(0)
    path = tmp_path / "m.weights"
    for trial in range(40):
        data = bytearray(good)
        kind = trial % 4
        if kind == 0:
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == 1:
            for _ in range(int(rng.integers(1, 4))):
                data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        elif kind == 2:  # the header and the array table: counts, offsets, sizes, shapes
            at = int(rng.integers(0, aot.HEADER.size + 2 * aot.ENTRY.size))
            data[at : at + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        else:
            data += rng.integers(0, 256, int(rng.integers(1, 100)), dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        err = loader.error(path)
        assert err, trial
        assert "\n" not in err, (trial, err)
        with pytest.raises(QcompError) as info:
            aot.read_weights(str(path))
        assert "\n" not in str(info.value)


def _calib_table():
    from qcomp.calibrate import METHODS, CalibrationTable, OpStats

    def op(i: int, shape: str, k: int) -> OpStats:
        return OpStats(
            f"{i}:qc.linear:{shape}", "loc(unknown)", np.arange(k, dtype=np.float32), dict.fromkeys(METHODS, 1.0)
        )

    return CalibrationTable("f" * 32, "minmax", 99.99, 1, (op(0, "32x64", 64), op(1, "16x32", 32)))


def test_reordered_calibration_table_is_refused(tmp_path):
    # the op list of a saved table, reordered, was accepted and put each layer's scale on another layer
    import json

    from qcomp.calibrate import CalibrationTable

    data = _calib_table().to_json()
    data["ops"].reverse()
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(QcompError, match=r"op 0 has key '1:qc.linear:16x32': the ops are out of order"):
        CalibrationTable.load(tmp_path / "t.json")


def test_calibration_table_of_other_layers_is_refused_at_attach():
    # keys renumbered to hide the reordering: attach matches each op to its layer by name and weight shape
    from dataclasses import replace

    from qcomp import calibrate
    from qcomp.frontend import import_torch
    from qcomp.pipeline import Pipeline

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16))
    module = import_torch(model, (X,))
    Pipeline.parse("qc-raise-norms,qc-from-torch").run(module)
    t = _calib_table()
    t = replace(t, fingerprint=calibrate.module_fingerprint(module))
    calibrate.attach(module, t)  # the right order is accepted
    a, b = t.ops
    swapped = replace(t, ops=(replace(b, key="0:qc.linear:16x32"), replace(a, key="1:qc.linear:32x64")))
    with pytest.raises(
        QcompError, match=r"its op 0 is '0:qc.linear:16x32', this model's layer 0 is '0:qc.linear:32x64'"
    ):
        calibrate.attach(module, swapped)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.json", b"\xff\xfe{\x00\x80"),  # not UTF-8
        ("t.json", b"[" * 100000),  # nesting deeper than the parser's recursion limit
        ("t.samples.npz", b"PK\x03\x04 not a zip at all"),  # corrupt samples beside a good table
        ("t.samples.npz", b""),
    ],
)
def test_unreadable_calibration_files_are_one_line_errors(tmp_path, name, content):
    from qcomp.calibrate import CalibrationTable

    _calib_table().save(tmp_path / "t.json")
    (tmp_path / name).write_bytes(content)
    with pytest.raises(QcompError, match=r"cannot read calibration") as e:
        CalibrationTable.load(tmp_path / "t.json")
    assert "\n" not in str(e.value)


def _zip_entry_patched(data: bytes, offset: int, value: bytes) -> bytes:
    """The zip bytes with `value` written at `offset` of its first central directory entry (b'PK\\x01\\x02')."""
    at = data.index(b"PK\x01\x02") + offset
    return data[:at] + value + data[at + len(value) :]


@pytest.mark.parametrize(
    ("offset", "value", "raised_before"),
    [
        (6, (85).to_bytes(2, "little"), "NotImplementedError: zip file version 8.5"),
        (8, (1).to_bytes(2, "little"), "RuntimeError: File '0.npy' is encrypted"),
        (10, (99).to_bytes(2, "little"), "NotImplementedError: That compression method is not supported"),
    ],
)
def test_samples_file_whose_zip_header_claims_unsupported_features_is_one_line(tmp_path, offset, value, raised_before):
    # finding: file fuzzer (bench/fuzz.py, calibration samples / Hessians): a flipped byte in the .npz's zip
    # header made zipfile raise `raised_before`, a traceback out of CalibrationTable.load
    import dataclasses

    from qcomp.calibrate import CalibrationTable

    t = _calib_table()
    t = dataclasses.replace(t, ops=(dataclasses.replace(t.ops[0], sample=np.ones((3, 64), np.float32)), t.ops[1]))
    t.save(tmp_path / "t.json")
    npz = tmp_path / "t.samples.npz"
    npz.write_bytes(_zip_entry_patched(npz.read_bytes(), offset, value))
    with pytest.raises(QcompError, match=r"t.samples.npz: cannot read calibration samples") as e:
        CalibrationTable.load(tmp_path / "t.json")
    assert "\n" not in str(e.value)
