"""SHD/SSC reader: binning goldens, round trips, the split, the summary, bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from spikedeploy.data import shd_format as fmt
from spikedeploy.data.shd import (BinningConfig, ShdDataset, bin_spikes, load_spikes, stratified_split,
                                  summarize)
from spikedeploy.data.shd_format import write_shd
from spikedeploy.errors import ConfigError, DataFormatError

KEYS35 = tuple(f"word{i:02d}" for i in range(35))


def _counts(times, units, **cfg):
    return bin_spikes(np.array(times, np.float32), np.array(units, np.uint16), BinningConfig(**cfg))


def _nonzero(frames):
    return {(int(k), int(j)): float(frames[k, j]) for k, j in zip(*np.nonzero(frames))}


# --------------------------------------------------------------------------- binning

def test_bin_hand_placed_spikes_including_edges_and_duration():
    # T = 10 frames over 1 s: frame k = [k/10, (k+1)/10).
    times = [0.0, 0.05, 0.1, 0.1, 0.3999, 0.4, 0.95, 0.9999, 1.0, 1.5]
    units = [0, 0, 3, 3, 7, 7, 699, 699, 1, 2]
    x = _counts(times, units, n_steps=10, duration=1.0)
    assert x.shape == (10, 700) and x.dtype == np.float32
    # 0.1 sits exactly on the edge of frame 1; 0.4 on the edge of frame 4;
    # 1.0 (= duration) and 1.5 are dropped.
    assert _nonzero(x) == {(0, 0): 2.0, (1, 3): 2.0, (3, 7): 1.0, (4, 7): 1.0, (9, 699): 2.0}
    assert x.sum() == 8.0


def test_bin_every_float32_edge_lands_in_the_frame_it_starts():
    for n_steps, duration in [(100, 1.0), (20, 1.0), (60, 1.4), (33, 0.8)]:
        cfg = BinningConfig(n_steps=n_steps, duration=duration)
        k = np.arange(n_steps)
        edges = (k * duration / n_steps).astype(np.float32)
        x = bin_spikes(edges, k % 700, cfg)
        assert np.array_equal(np.argmax(x, axis=0)[k % 700], k)
        assert x.sum() == n_steps
        # one float32 ulp below each edge (k >= 1) falls into the previous frame
        below = np.nextafter(edges[1:], np.float32(0))
        y = bin_spikes(below, np.zeros(n_steps - 1, int), cfg)
        assert np.array_equal(y[:, 0], np.r_[np.ones(n_steps - 1), 0.0])


def test_bin_duration_drops_spikes_at_and_after_it():
    x = _counts([0.49, 0.5, 0.7], [4, 4, 4], n_steps=5, duration=0.5)
    assert _nonzero(x) == {(4, 4): 1.0}


def test_bin_binary_clips_counts_to_one():
    x = _counts([0.0, 0.01, 0.02, 0.5], [9, 9, 9, 9], n_steps=10, binary=True)
    assert _nonzero(x) == {(0, 9): 1.0, (5, 9): 1.0}


def test_bin_pooling_sums_adjacent_channels():
    t = [0.0] * 8
    u = [0, 1, 2, 3, 4, 5, 699, 695]
    x = _counts(t, u, n_steps=4, pool=5)
    assert x.shape == (4, 140)
    assert _nonzero(x) == {(0, 0): 5.0, (0, 1): 1.0, (0, 139): 2.0}
    # binary clips after pooling: "at least one spike among the pooled channels"
    assert _nonzero(_counts(t, u, n_steps=4, pool=5, binary=True)) == {(0, 0): 1.0, (0, 1): 1.0, (0, 139): 1.0}


def test_bin_matches_a_naive_reference_on_unsorted_random_spikes():
    rng = np.random.default_rng(7)
    times = (rng.random(3000) * 1.0).astype(np.float32)
    times[:50] = (rng.integers(0, 34, 50) * 0.8 / 33).astype(np.float32)  # exactly on edges
    units = rng.integers(0, 700, 3000)
    cfg = BinningConfig(n_steps=33, duration=0.8, pool=7)
    edges = [np.float32(k * 0.8 / 33) for k in range(34)]
    expect = np.zeros((33, 100), np.float32)
    for t, u in zip(times, units):  # one spike at a time, float32 comparisons
        for k in range(33):
            if edges[k] <= t < edges[k + 1]:
                expect[k, u // 7] += 1
    got = bin_spikes(times, units, cfg)
    assert np.array_equal(got, expect) and got.sum() == (times < np.float32(0.8)).sum()


def _hr_reference(times, units, steps):
    """The GPN authors' readout as their audio_dataset.py describes it: frame i takes (and
    removes) the remaining spikes with t <= i / T, drops unit 0, counts unit u on channel 700 - u."""
    out = np.zeros((steps, 700), np.float32)
    t, u = np.asarray(times, np.float32), np.asarray(units)
    for i in range(steps):
        sel = t <= i * (1 / steps)
        v = u[sel]
        np.add.at(out[i], 700 - v[v > 0], 1)
        t, u = t[~sel], u[~sel]
    return out


def test_hr_gpn_snn_convention_matches_the_authors_readout():
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = int(rng.integers(0, 300))
        # spikes on frame edges (i / T) included: the authors' frames end there, inclusively
        times = np.sort(rng.choice(np.r_[rng.random(n) * 1.2, np.arange(0, 1.2, 1 / 20)], size=n)).astype(np.float32)
        units = rng.integers(0, 700, n)
        got = bin_spikes(times, units, BinningConfig(n_steps=20, convention="hr-gpn-snn"))
        assert np.array_equal(got, _hr_reference(times, units, 20)), trial
    # a spike at t = 0 is frame 0, one at exactly 1/T too, one just after it frame 2; unit 0 vanishes
    got = bin_spikes(np.float32([0.0, 0.05, 0.0501, 0.3]), np.array([699, 1, 2, 0]),
                     BinningConfig(n_steps=20, convention="hr-gpn-snn"))
    assert got[0, 1] == 1 and got[1, 699] == 1 and got[2, 698] == 1 and got.sum() == 3
    assert "convention" not in BinningConfig().to_dict()
    assert BinningConfig.from_dict(BinningConfig(convention="hr-gpn-snn").to_dict()).convention == "hr-gpn-snn"
    with pytest.raises(ConfigError, match="convention"):
        BinningConfig(convention="other")


def test_bin_rejects_bad_events():
    with pytest.raises(DataFormatError, match="units must lie in 0..699"):
        _counts([0.1], [700])
    with pytest.raises(DataFormatError, match="finite and >= 0"):
        _counts([-0.1], [3])
    with pytest.raises(DataFormatError, match="differ in shape"):
        bin_spikes(np.zeros(3, np.float32), np.zeros(2, int))
    with pytest.raises(DataFormatError, match="units must be integers"):
        bin_spikes(np.zeros(2, np.float32), np.zeros(2, np.float32))
    assert bin_spikes([], [], BinningConfig(n_steps=3)).shape == (3, 700)


def test_binning_config_properties_and_round_trip():
    cfg = BinningConfig(n_steps=20, duration=1.0, binary=True, pool=5)
    assert cfg.n_features == 140 and cfg.dt == pytest.approx(0.05)
    d = cfg.to_dict()
    assert d == {"n_steps": 20, "duration": 1.0, "binary": True, "pool": 5, "n_channels": 700}
    assert BinningConfig.from_dict(d) == cfg
    with pytest.raises(ConfigError, match="unknown key"):
        BinningConfig.from_dict({**d, "dt": 0.05})
    with pytest.raises(ConfigError, match="does not divide"):
        BinningConfig(pool=3)
    for bad in ({"n_steps": 0}, {"duration": -1.0}, {"pool": 1.5}, {"binary": "yes"}):
        with pytest.raises(ConfigError):
            BinningConfig(**bad)


# --------------------------------------------------------------------------- files

def _write_small(path, keys=fmt.SHD_KEYS, **kw):
    times = [np.array([0.1, 0.2, 0.4]), np.array([0.3]), np.array([]), np.array([0.05, 0.9])]
    units = [np.array([1, 2, 2]), np.array([5]), np.array([]), np.array([1, 699])]
    return write_shd(path, times, units, kw.pop("labels", [0, 2, 2, 1]), [7, 7, 9, 7], keys=keys, **kw)


def test_load_round_trips_labels_speakers_keys_and_meta(tmp_path):
    p = _write_small(tmp_path / "s.h5", keys=("a", "b", "c"),
                     extra={"meta_info/gender": np.array([b"f", b"m"]), "meta_info/age": np.array([30, 41])})
    s = load_spikes(p)
    assert len(s) == 4 and s.path == p and s.n_channels == 700
    assert s.labels.dtype == np.int64 and s.labels.tolist() == [0, 2, 2, 1]
    assert s.speakers.tolist() == [7, 7, 9, 7]
    assert s.keys == ("a", "b", "c") and s.n_classes == 3
    assert [t.tolist() for t in s.times] == [np.float32([0.1, 0.2, 0.4]).tolist(), np.float32([0.3]).tolist(),
                                            [], np.float32([0.05, 0.9]).tolist()]
    assert [u.tolist() for u in s.units] == [[1, 2, 2], [5], [], [1, 699]]
    assert s.meta_info["age"].tolist() == [30, 41] and s.meta_info["gender"].tolist() == [b"f", b"m"]


def test_ssc_35_classes_work(tmp_path):
    labels = [0, 34, 17, 34]
    p = _write_small(tmp_path / "ssc.h5", keys=KEYS35, labels=labels)
    ds = ShdDataset(p, BinningConfig(n_steps=10), progress=False)
    assert ds.n_classes == 35 and ds.keys == KEYS35 and ds.labels.tolist() == labels
    summary = summarize(p)
    assert summary.n_classes == 35 and summary.class_counts[34] == 2 and sum(summary.class_counts) == 4


def test_file_without_keys_or_speakers(tmp_path):
    p = _write_small(tmp_path / "s.h5", labels=[0, 4, 1, 1])
    with h5py.File(p, "r+") as f:
        del f[fmt.KEYS]
        del f[fmt.SPEAKER]
    s = load_spikes(p)
    assert s.keys == ("0", "1", "2", "3", "4") and s.speakers is None
    assert ShdDataset(s, progress=False).speakers is None


def test_dataset_frames_match_bin_spikes_cached_and_on_the_fly(tmp_path):
    rng = np.random.default_rng(1)
    times, units = [], []
    for _ in range(12):
        n = int(rng.integers(0, 400))
        times.append(np.sort(rng.random(n) * 1.2))
        units.append(rng.integers(0, 700, n))
    labels = [i % 3 for i in range(12)]
    p = write_shd(tmp_path / "r.h5", times, units, labels, [0] * 12, keys=("x", "y", "z"))
    for cfg in (BinningConfig(n_steps=25), BinningConfig(n_steps=7, duration=0.9, pool=7, binary=True),
                BinningConfig(n_steps=20, convention="hr-gpn-snn")):
        cached = ShdDataset(p, cfg, progress=False)
        lazy = ShdDataset(p, cfg, max_cache_bytes=0)
        assert cached.cached and not lazy.cached
        X, y = cached.tensors()
        assert X.shape == (12, cfg.n_steps, cfg.n_features) and X.dtype.is_floating_point
        assert y.tolist() == labels and str(y.dtype) == "torch.int64"
        assert np.array_equal(lazy.tensors()[0].numpy(), X.numpy())
        for i in range(12):
            x, label = cached[i]
            expect = bin_spikes(np.float32(times[i]), units[i], cfg)
            assert np.array_equal(x.numpy(), expect) and label == labels[i]
            assert np.array_equal(lazy[i][0].numpy(), expect)


def test_dataset_counts_never_wrap_above_255(tmp_path):
    p = write_shd(tmp_path / "dense.h5", [np.full(300, 0.001), np.array([0.5])], [np.zeros(300), np.array([3])],
                  [0, 1], [0, 0])
    ds = ShdDataset(p, BinningConfig(n_steps=10), progress=False)
    assert ds[0][0][0, 0].item() == 300.0 and ds[1][0][5, 3].item() == 1.0


def test_dataset_indices_subset_and_split(tmp_path):
    labels = [0, 1, 2] * 6
    p = write_shd(tmp_path / "l.h5", [np.array([0.01]) for i in range(18)], [np.array([i]) for i in range(18)],
                  labels, list(range(18)), keys=("a", "b", "c"))
    ds = ShdDataset(p, BinningConfig(n_steps=10), indices=[3, 4, 5, 6, 7], progress=False)
    assert len(ds) == 5 and ds.labels.tolist() == [0, 1, 2, 0, 1] and ds.speakers.tolist() == [3, 4, 5, 6, 7]
    sub = ds.subset([4, 0])
    assert sub.indices.tolist() == [7, 3] and sub.labels.tolist() == [1, 0]
    assert sub[0][0][0, 7].item() == 1.0 and sub[1][0][0, 3].item() == 1.0
    assert sub._frames is ds._frames  # shares the pre-binned frames
    full = ShdDataset(p, BinningConfig(n_steps=10), progress=False)
    tr, va = full.split(val_fraction=1 / 3, seed=0)
    assert sorted(tr.indices.tolist() + va.indices.tolist()) == list(range(18))
    assert np.bincount(va.labels).tolist() == [2, 2, 2]
    with pytest.raises(ConfigError):
        ds.subset([5])
    with pytest.raises(ConfigError):
        ShdDataset(p, BinningConfig(n_steps=10), indices=[18])


def test_dataset_works_with_a_dataloader(tmp_path):
    import torch

    p = _write_small(tmp_path / "s.h5")
    ds = ShdDataset(p, BinningConfig(n_steps=10), progress=False)
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 10, 700) and yb.tolist() == [0, 2, 2, 1]
    assert xb.sum(dim=(1, 2)).tolist() == [3.0, 1.0, 0.0, 2.0]


def test_batches_fast_path(tmp_path):
    rng = np.random.default_rng(2)
    times = [np.sort(rng.random(50)) for _ in range(10)]
    units = [rng.integers(0, 700, 50) for _ in range(10)]
    p = write_shd(tmp_path / "b.h5", times, units, [i % 4 for i in range(10)], [0] * 10, keys=tuple("abcd"))
    for ds in (ShdDataset(p, BinningConfig(n_steps=8), progress=False),
               ShdDataset(p, BinningConfig(n_steps=8), max_cache_bytes=0)):
        X, y = ds.tensors()
        got = list(ds.batches(4))
        assert [b[0].shape[0] for b in got] == [4, 4, 2]
        assert np.array_equal(np.concatenate([b[0].numpy() for b in got]), X.numpy())
        assert np.concatenate([b[1].numpy() for b in got]).tolist() == y.tolist()
        order = np.random.default_rng(3).permutation(10)
        shuffled = list(ds.batches(4, shuffle=True, seed=3, drop_last=True))
        assert len(shuffled) == 2
        assert np.array_equal(shuffled[1][0].numpy(), X.numpy()[order[4:8]])
        assert shuffled[1][1].tolist() == y.numpy()[order[4:8]].tolist()


# --------------------------------------------------------------------------- split

def test_stratified_split_deterministic_disjoint_covering_proportional():
    labels = np.repeat([0, 1, 2, 3, 4], [10, 20, 7, 1, 2])
    tr, va = stratified_split(labels, 0.15, seed=3)
    tr2, va2 = stratified_split(labels, 0.15, seed=3)
    assert np.array_equal(tr, tr2) and np.array_equal(va, va2)
    assert not set(tr) & set(va) and sorted(np.r_[tr, va].tolist()) == list(range(labels.size))
    assert np.all(np.diff(tr) > 0) and np.all(np.diff(va) > 0)
    # round(0.15 n), at least 1 and at most n - 1; a single sample stays in train
    assert np.bincount(labels[va], minlength=5).tolist() == [2, 3, 1, 0, 1]
    assert np.bincount(labels[tr], minlength=5).tolist() == [8, 17, 6, 1, 1]
    other = [stratified_split(labels, 0.15, seed=s)[1] for s in range(4, 8)]
    assert any(not np.array_equal(v, va) for v in other)

    big = np.repeat([2, 0, 1], [600, 300, 100])
    _, va = stratified_split(big, 0.15, seed=0)
    assert np.bincount(big[va]).tolist() == [45, 15, 90]


def test_stratified_split_rejects_bad_fraction():
    with pytest.raises(ConfigError, match="val_fraction"):
        stratified_split([0, 1], 1.0)


# --------------------------------------------------------------------------- summary

def test_summarize_numbers(tmp_path):
    p = _write_small(tmp_path / "s.h5", keys=("a", "b", "c"))
    s = summarize(p)
    assert s.n_samples == 4 and s.class_counts == (1, 1, 2) and s.keys == ("a", "b", "c")
    assert s.speaker_counts == ((7, 3), (9, 1))
    # last spike times 0.4, 0.3, 0.9 (the empty sample has none)
    assert s.duration_mean == pytest.approx((0.4 + 0.3 + 0.9) / 3, abs=1e-6)
    assert s.duration_max == pytest.approx(0.9, abs=1e-6)
    assert (s.spikes_mean, s.spikes_min, s.spikes_max, s.empty_samples) == (1.5, 0, 3, 1)
    assert (s.channels_used, s.unit_min, s.unit_max) == (4, 1, 699)
    text = s.format()
    assert "samples: 4" in text and "  2 c 2" in text and "7: 3, 9: 1" in text
    assert "mean 1.5, min 0, max 3" in text and "channels used: 4 of 700 (units 1..699)" in text


def test_cli_data_info(tmp_path, capsys):
    from spikedeploy.cli import main

    p = _write_small(tmp_path / "s.h5")
    assert main(["data", "info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "samples: 4" in out and "speakers: 2" in out
    assert main(["data", "info", str(tmp_path / "missing.h5")]) == 2
    assert "file not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- bad input

def _tamper(path, name, data):
    with h5py.File(path, "r+") as f:
        del f[name]
        if data is not None:
            f.create_dataset(name, data=data)


def _vlen(path, name, arrays, dtype):
    with h5py.File(path, "r+") as f:
        del f[name]
        ds = f.create_dataset(name, (len(arrays),), dtype=h5py.vlen_dtype(np.dtype(dtype)))
        for i, a in enumerate(arrays):
            ds[i] = np.asarray(a, dtype=dtype)


def _bad_error(path, **kw) -> str:
    with pytest.raises(DataFormatError) as info:
        load_spikes(path, **kw)
    msg = str(info.value)
    assert str(path) in msg and "remedy:" in msg
    return msg


def test_bad_missing_file_and_not_hdf5(tmp_path):
    assert "file not found" in _bad_error(tmp_path / "nope.h5")
    txt = tmp_path / "notes.h5"
    txt.write_text("this is not HDF5\n")
    assert "not a readable HDF5 file" in _bad_error(txt)


def test_bad_truncated_hdf5(tmp_path):
    p = _write_small(tmp_path / "s.h5")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert "truncated" in _bad_error(p)


def test_bad_missing_fields(tmp_path):
    for name in (fmt.TIMES, fmt.UNITS, fmt.LABELS):
        p = _write_small(tmp_path / f"{name.replace('/', '_')}.h5")
        _tamper(p, name, None)
        msg = _bad_error(p)
        assert f"[{name}]" in msg and "field is missing" in msg


def test_bad_times_not_vlen(tmp_path):
    p = _write_small(tmp_path / "s.h5")
    _tamper(p, fmt.TIMES, np.zeros((4, 3), np.float32))
    assert "variable-length arrays" in _bad_error(p)
    q = _write_small(tmp_path / "q.h5")
    _vlen(q, fmt.UNITS, [[1.0, 2.0, 2.0], [5.0], [], [1.0, 699.0]], np.float32)
    assert "elements are float32, expected integers" in _bad_error(q)


def test_other_stored_dtypes_are_read(tmp_path):
    # float64 times and int32 units (not SHD's float/uint16, but unambiguous)
    p = _write_small(tmp_path / "s.h5")
    _vlen(p, fmt.TIMES, [[0.1, 0.2, 0.4], [0.3], [], [0.05, 0.9]], np.float64)
    _vlen(p, fmt.UNITS, [[1, 2, 2], [5], [], [1, 699]], np.int32)
    s = load_spikes(p)
    assert s.all_times.dtype == np.float32 and s.all_units.dtype == np.uint16
    assert s.times[3].tolist() == np.float32([0.05, 0.9]).tolist() and s.units[3].tolist() == [1, 699]


def test_bad_units_out_of_range(tmp_path):
    p = _write_small(tmp_path / "s.h5")
    _vlen(p, fmt.UNITS, [[1, 2, 2], [5], [], [1, 700]], np.uint16)
    msg = _bad_error(p)
    assert "sample 3 has unit 700, outside 0..699" in msg and f"[{fmt.UNITS}]" in msg
    # a file that declares 100 channels
    q = _write_small(tmp_path / "q.h5", attrs={fmt.N_CHANNELS_ATTR: 100})
    assert "sample 3 has unit 699, outside 0..99" in _bad_error(q)
    r = _write_small(tmp_path / "r.h5", attrs={fmt.N_CHANNELS_ATTR: 1000})
    assert load_spikes(r).n_channels == 1000


def test_bad_negative_and_unsorted_times(tmp_path):
    p = _write_small(tmp_path / "neg.h5")
    _vlen(p, fmt.TIMES, [[0.1, 0.2, 0.4], [-0.3], [], [0.05, 0.9]], np.float32)
    assert "sample 1 has a negative spike time" in _bad_error(p)
    q = _write_small(tmp_path / "uns.h5")
    _vlen(q, fmt.TIMES, [[0.1, 0.2, 0.4], [0.3], [], [0.9, 0.05]], np.float32)
    msg = _bad_error(q)
    assert "sample 3: spike times are not sorted" in msg and f"[{fmt.TIMES}]" in msg
    r = _write_small(tmp_path / "nan.h5")
    _vlen(r, fmt.TIMES, [[0.1, np.nan, 0.4], [0.3], [], [0.05, 0.9]], np.float32)
    assert "sample 0 has a non-finite spike time" in _bad_error(r)


def test_bad_mismatched_lengths(tmp_path):
    p = _write_small(tmp_path / "tu.h5")
    _vlen(p, fmt.UNITS, [[1, 2, 2], [5, 6], [], [1, 699]], np.uint16)
    assert "sample 1 has 1 spike times but 2 units" in _bad_error(p)
    q = _write_small(tmp_path / "ns.h5")
    _vlen(q, fmt.UNITS, [[1, 2, 2], [5], []], np.uint16)
    assert "3 samples of units but 4 of times" in _bad_error(q)
    r = _write_small(tmp_path / "lab.h5")
    _tamper(r, fmt.LABELS, np.array([0, 1, 2], np.uint8))
    assert "expected 4 labels" in _bad_error(r)
    s = _write_small(tmp_path / "spk.h5")
    _tamper(s, fmt.SPEAKER, np.array([1, 2], np.uint16))
    assert "expected 4 speaker ids" in _bad_error(s)


def test_bad_labels(tmp_path):
    p = _write_small(tmp_path / "k.h5", keys=("a", "b"))
    assert "sample 1 has label 2 but there are only 2 keys" in _bad_error(p)
    q = _write_small(tmp_path / "f.h5")
    _tamper(q, fmt.LABELS, np.array([0.0, 1.0, 2.0, 1.0]))
    assert "labels must be integers" in _bad_error(q)
    r = _write_small(tmp_path / "e.h5")
    _vlen(r, fmt.TIMES, [], np.float32)
    _vlen(r, fmt.UNITS, [], np.uint16)
    _tamper(r, fmt.LABELS, np.zeros(0, np.uint8))
    _tamper(r, fmt.SPEAKER, None)
    assert "holds no samples" in _bad_error(r)
