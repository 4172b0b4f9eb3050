"""Calibration statistics and methods on hand-made distributions; the table's JSON format and validation."""

import json

import numpy as np
import pytest
from qcomp.calibrate import (
    BINS,
    FORMAT,
    METHODS,
    VERSION,
    CalibrationTable,
    Observer,
    OpStats,
    fingerprint,
    kl_clip,
    mse_clip,
    percentile_clip,
    quant_mse,
)
from qcomp.dialects.errors import QcompError


def _observe(*batches, axis=-1) -> Observer:
    obs = Observer(axis)
    for b in batches:
        obs.update(np.asarray(b, np.float32))
    return obs


def test_per_channel_absmax_streams_over_samples():
    a = np.array([[1.0, -5.0, 0.5], [-2.0, 1.0, 0.25]])
    b = np.array([[0.5, 4.0, -3.0]])
    obs = _observe(a, b)
    np.testing.assert_array_equal(obs.absmax, [2.0, 5.0, 3.0])
    assert obs.hist.sum() == 9


def test_conv_channels_are_dim_1():
    x = np.zeros((2, 3, 4, 4), np.float32)
    x[1, 2, 0, 0] = -7.0
    x[0, 0, 3, 3] = 2.0
    np.testing.assert_array_equal(_observe(x, axis=1).absmax, [2.0, 0.0, 7.0])


def test_histogram_growth_merges_bins_exactly():
    # a histogram over [0, 1] that grows to [0, 4] merges 4 old bins into one: counts are kept per value
    first = np.linspace(0, 1, 1000, dtype=np.float32)
    obs = _observe(first, [3.5])
    assert obs.range == 4.0
    assert obs.hist.sum() == 1001
    direct = np.bincount(np.minimum((first / 4.0 * BINS).astype(int), BINS - 1), minlength=BINS)
    direct[int(3.5 / 4.0 * BINS)] += 1
    # merged coarse bins equal binning the same values directly at the coarse width (up to bin-edge ties)
    assert np.abs(obs.hist - direct).sum() <= 2


def test_all_zero_activation_gives_zero_clips():
    obs = _observe(np.zeros((4, 3)))
    assert obs.clips(99.99) == dict.fromkeys(METHODS, 0.0)


def test_percentile_of_a_known_sample():
    # |x| uniform on a fine grid of [0, 10]: the 99th percentile is 9.9 (within one bin, 10/2048)
    x = np.linspace(0, 10, 200_001, dtype=np.float32)
    obs = _observe(x)
    assert obs.clips(99.0)["percentile"] == pytest.approx(9.9, abs=10 / BINS)
    assert obs.clips(50.0)["percentile"] == pytest.approx(5.0, abs=10 / BINS)
    assert obs.clips(100.0)["percentile"] == pytest.approx(10.0, abs=1e-6)
    hist = np.zeros(BINS, np.int64)
    hist[:100] = 1  # values uniform in the first 100 bins of [0, 2048]: 99.99% lands at ~99.99
    assert percentile_clip(hist, float(BINS), 100.0, 99.99) == pytest.approx(99.99, abs=1e-6)


def test_quant_mse_matches_brute_force():
    rng = np.random.default_rng(0)
    v = np.abs(rng.standard_normal(200_000)).astype(np.float64)
    r = float(v.max())
    hist = np.histogram(v, bins=BINS, range=(0, r))[0]
    for c in (0.5, 2.0, r):
        s = c / 127
        brute = np.mean((v - np.clip(np.rint(v / s), -127, 127) * s) ** 2)
        assert quant_mse(hist, r, np.array([c]))[0] == pytest.approx(brute, rel=0.05)


def test_mse_clip_is_at_most_the_max_and_beats_it_on_a_heavy_tail():
    # Laplace samples: clipping the sparse tail costs less than the coarser steps the max would give
    rng = np.random.default_rng(0)
    x = rng.laplace(size=200_000).astype(np.float32)
    clips = _observe(x).clips(99.99)
    assert 0 < clips["mse"] < clips["minmax"]
    v = np.abs(x).astype(np.float64)

    def mse(c):
        s = c / 127
        return np.mean((v - np.clip(np.rint(v / s), -127, 127) * s) ** 2)

    assert mse(clips["mse"]) < 0.8 * mse(clips["minmax"])  # measured on the samples themselves
    # rare single outliers in a Gaussian are worth keeping: clipping 5 of 100k at 60 -> 5 costs more
    g = rng.standard_normal(100_000).astype(np.float32)
    g[:5] = 60.0
    assert _observe(g).clips(99.99)["mse"] > 50.0
    # a uniform distribution has no tail worth clipping: the best clip is (nearly) the max
    assert _observe(np.linspace(-1, 1, 50_001)).clips(99.99)["mse"] >= 0.95


def test_kl_clips_a_gaussian_with_outliers_below_the_max():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200_000).astype(np.float32)
    x[:20] = rng.uniform(30, 40, 20)
    clips = _observe(x).clips(99.99)
    assert clips["kl"] < clips["minmax"]
    assert 2.0 < clips["kl"] < 15.0
    hist = np.zeros(BINS, np.int64)
    hist[:50] = 10  # fewer non-empty bins than quantization levels: nothing to clip
    assert kl_clip(hist, float(BINS), 50.0) == 50.0


def test_mse_clip_on_a_point_mass_is_the_max():
    hist = np.zeros(BINS, np.int64)
    hist[-1] = 100
    assert mse_clip(hist, 1.0, 1.0) == 1.0


def _table() -> CalibrationTable:
    ops = (
        OpStats(
            "0:qc.linear:4x3",
            "loc(unknown)",
            np.array([0.1, 2.5, 1 / 3], np.float32),
            {"minmax": 2.5, "percentile": 2.25, "mse": 1.75, "kl": 2.0},
        ),
        OpStats(
            "1:qc.linear:2x4", "loc(unknown)", np.array([0.0, 1.0, 3.0, 7.0], np.float32), dict.fromkeys(METHODS, 0.0)
        ),
    )
    return CalibrationTable("abc123", "kl", 99.99, 4, ops)


def test_table_json_round_trip_is_exact(tmp_path):
    t = _table()
    t.save(tmp_path / "t.json")
    u = CalibrationTable.load(tmp_path / "t.json")
    assert (u.fingerprint, u.method, u.percentile, u.samples) == ("abc123", "kl", 99.99, 4)
    for a, b in zip(t.ops, u.ops, strict=True):
        assert a.key == b.key
        assert a.clips == b.clips
        assert a.absmax.dtype == b.absmax.dtype
        assert np.array_equal(a.absmax, b.absmax)
    np.testing.assert_array_equal(u.scales(), np.array([2.0 / 127, 1.0], np.float32))  # clip 0 -> scale 1
    np.testing.assert_array_equal(u.using("minmax").scales()[:1], np.array([2.5 / 127], np.float32))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other"), "'format' must be"),
        (lambda d: d.update(version=VERSION + 1), f"version {VERSION + 1} is not supported"),
        (lambda d: d.update(method="median"), "'method' must be one of"),
        (lambda d: d.pop("fingerprint"), "missing or mistyped 'fingerprint'"),
        (lambda d: d["ops"][0]["clips"].pop("kl"), "op 0: KeyError"),
        (lambda d: d["ops"][1]["clips"].update(mse=-1.0), "clips finite and >= 0"),
        (lambda d: d["ops"][0].update(absmax=[[1.0]]), "absmax must be a list"),
    ],
)
def test_invalid_tables_are_refused_with_one_line(tmp_path, edit, message):
    data = _table().to_json()
    edit(data)
    (tmp_path / "t.json").write_text(json.dumps(data))
    with pytest.raises(QcompError, match="not a valid calibration table") as e:
        CalibrationTable.load(tmp_path / "t.json")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unreadable_table_file(tmp_path):
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(QcompError, match="cannot read calibration table"):
        CalibrationTable.load(tmp_path / "t.json")
    with pytest.raises(QcompError, match="cannot read calibration table"):
        CalibrationTable.load(tmp_path / "missing.json")


def test_fingerprint_sees_names_shapes_and_weights():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    base = fingerprint([("qc.linear", w)])
    assert base == fingerprint([("qc.linear", w.copy())])
    assert base != fingerprint([("qc.linear", w.reshape(3, 2))])
    assert base != fingerprint([("qc.conv2d", w)])
    w2 = w.copy()
    w2[0, 0] = 0.5
    assert base != fingerprint([("qc.linear", w2)])
    assert FORMAT in _table().to_json()["format"]


def test_observer_keeps_channel_means_and_evenly_spaced_rows():
    obs = Observer(-1, rows_per_update=2)
    a = np.arange(12, dtype=np.float32).reshape(4, 3) - 6  # rows 0..3
    obs.update(a)
    obs.update(-a[:1])
    np.testing.assert_allclose(obs.mean_abs, np.abs(np.concatenate([a, -a[:1]])).mean(axis=0), rtol=1e-6)
    # two rows of the first batch (first and last), the only row of the second
    np.testing.assert_array_equal(obs.sample, np.stack([a[0], a[3], -a[0]]))


def test_table_samples_round_trip_beside_the_json(tmp_path):
    from dataclasses import replace

    from qcomp.calibrate import samples_path

    t = _table()
    rows = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    ops = (replace(t.ops[0], mean_abs=np.array([0.5, 1.0, 0.25], np.float32), sample=rows), t.ops[1])
    t = replace(t, ops=ops)
    t.save(tmp_path / "t.json")
    assert samples_path(tmp_path / "t.json") == str(tmp_path / "t.samples.npz")
    u = CalibrationTable.load(tmp_path / "t.json")
    np.testing.assert_array_equal(u.ops[0].sample, rows)
    np.testing.assert_array_equal(u.ops[0].mean_abs, [0.5, 1.0, 0.25])
    assert u.ops[1].sample is None
    np.savez(tmp_path / "t.samples.npz", **{"0": np.zeros((2, 5), np.float32)})  # 5 channels, the op has 3
    with pytest.raises(QcompError, match="samples of op 0 do not fit") as e:
        CalibrationTable.load(tmp_path / "t.json")
    assert "\n" not in str(e.value)


def test_clip_of_statistics_after_a_transformation():
    from qcomp.calibrate import clip_of

    absmax = np.array([1.0, 8.0], np.float32)
    sample = np.array([[0.5, -2.0], [1.0, 1.0]], np.float32)
    assert clip_of(absmax, sample, "minmax", 99.99) == 8.0  # exact: the per-channel max survives any sample
    assert clip_of(absmax, None, "kl", 99.99) == 8.0  # no sample: only the max is known
    assert clip_of(absmax, sample, "percentile", 50.0) < 8.0  # the sample's distribution decides the rest
