"""The synthetic spoken-digit generator: determinism, voice-disjoint splits, balance,
caching with a manifest written last, and clear errors when espeak-ng is missing."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from spikedeploy.data import espeak
from spikedeploy.data import synth_digits as sd
from spikedeploy.data.shd import load_spikes
from spikedeploy.data.shd_format import SHD_KEYS
from spikedeploy.errors import ConfigError, MissingDependencyError, SpikedeployError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SMALL = sd.SynthConfig.default().replace(n_train=20, n_test=10)
TINY = SMALL.replace(n_train=2, n_test=1, noise=False)   # for the caching logic: a second per build


def arrays(path):
    s = load_spikes(path)
    return s.all_times, s.all_units, s.offsets, np.asarray(s.labels), np.asarray(s.speakers)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "a"
    return sd.build_dataset(SMALL, out_dir=out, workers=1, progress=False)


# --------------------------------------------------------------------------- plan (no espeak)

def test_speaker_table_is_voice_disjoint():
    cfg = sd.SynthConfig.default()
    table = sd.speakers(cfg)
    assert len(table) == len(cfg.variants) * len(cfg.pitch_bands) == 64 * 3
    assert [s.id for s in table] == list(range(len(table)))
    test_var = {s.variant for s in table if s.split == "test"}
    train_var = {s.variant for s in table if s.split == "train"}
    assert not test_var & train_var
    assert len(test_var) == round(0.2 * 64) == 13
    plan = sd.plan(cfg)
    assert len(plan["train"]) == 2400 and len(plan["test"]) == 600
    for split, n in (("train", 2400), ("test", 600)):
        labels = np.array([j.label for j in plan[split]])
        np.testing.assert_array_equal(np.bincount(labels, minlength=20), np.full(20, n // 20))
        assert {j.speaker.split for j in plan[split]} == {split}


def test_plan_depends_on_the_seed_only():
    a, b = sd.plan(SMALL), sd.plan(SMALL)
    assert a == b
    c = sd.plan(SMALL.replace(seed=1))
    assert [j.label for j in c["train"]] != [j.label for j in a["train"]] or \
        [j.speaker.id for j in c["train"]] != [j.speaker.id for j in a["train"]]


@pytest.mark.parametrize("changes", [dict(n_test=0), dict(n_train=0), dict(variants=("m1",)),
                                     dict(pitch_bands=((50, 120),)), dict(speed_range=(50, 100)),
                                     dict(noise_types=("rain",)), dict(level_db_range=(-10.0, 0.0))])
def test_bad_configuration_is_refused(changes):
    with pytest.raises(ConfigError):
        SMALL.replace(**changes)


def test_config_hash_follows_content():
    h = SMALL.config_hash("1.51")
    assert h == sd.SynthConfig.from_dict(SMALL.to_dict()).config_hash("1.51")
    assert h != SMALL.replace(seed=1).config_hash("1.51")
    assert h != SMALL.config_hash("1.52")
    assert h != SMALL.replace(cochlea=SMALL.cochlea.replace(max_rate=90.0)).config_hash("1.51")


# --------------------------------------------------------------------------- a small build

@needs_espeak
def test_small_build_is_shd_shaped_balanced_and_disjoint(built):
    assert not built.cached
    tr, te = load_spikes(built.train_path), load_spikes(built.test_path)
    assert len(tr) == 20 and len(te) == 10
    assert tr.keys == SHD_KEYS
    np.testing.assert_array_equal(np.bincount(tr.labels, minlength=20), np.ones(20))
    assert not set(tr.speakers.tolist()) & set(te.speakers.tolist())
    with h5py.File(built.train_path, "r") as f:
        variant = [v.decode() for v in f["extra/meta_info/variant"][()]]
        split = [v.decode() for v in f["extra/meta_info/split"][()]]
        noise = {v.decode() for v in f["extra/noise"][()]}
        onset = f["extra/onset"][()]
        cfg = json.loads(f.attrs["config"])
    assert all(split[s] == "train" for s in tr.speakers) and all(split[s] == "test" for s in te.speakers)
    assert not {variant[s] for s in tr.speakers} & {variant[s] for s in te.speakers}
    assert noise <= set(sd.NOISE_TYPES) and onset.min() >= 0 and onset.max() < 1.0
    assert sd.SynthConfig.from_dict(cfg) == SMALL
    n = tr.n_spikes
    assert 300 < n.mean() < 20000 and n.min() > 0                 # SHD-like: thousands per second
    assert tr.all_times.max() < 1.0 and tr.all_units.max() <= 699
    assert "speaker-disjoint and voice-disjoint" in sd.speaker_summary(built.out_dir)


@needs_espeak
def test_second_call_is_cached_and_does_not_rewrite(built):
    stat = {p: p.stat() for p in (built.train_path, built.test_path, built.out_dir / sd.MANIFEST)}
    again = sd.build_dataset(SMALL, out_dir=built.out_dir, workers=1, progress=False)
    assert again.cached and again.train_path == built.train_path
    for p, st in stat.items():
        assert (p.stat().st_mtime_ns, p.stat().st_ino) == (st.st_mtime_ns, st.st_ino)
    assert sd.is_cached(built.out_dir, SMALL.config_hash(espeak.espeak_info().version))


@needs_espeak
def test_same_seed_same_arrays_whatever_the_workers_other_seed_differs(built, tmp_path):
    pytest.importorskip("threadpoolctl", reason="bit-identical files across worker counts need one BLAS thread")
    two = sd.build_dataset(SMALL, out_dir=tmp_path / "b", workers=2, progress=False)
    for a, b in ((built.train_path, two.train_path), (built.test_path, two.test_path)):
        for x, y in zip(arrays(a), arrays(b)):
            np.testing.assert_array_equal(x, y)
    other = sd.build_dataset(SMALL.replace(seed=1), out_dir=tmp_path / "c", workers=1, progress=False)
    t0, _, off0, lab0, _ = arrays(built.train_path)
    t1, _, off1, lab1, _ = arrays(other.train_path)
    assert not (np.array_equal(off0, off1) and np.array_equal(t0, t1) and np.array_equal(lab0, lab1))


@needs_espeak
def test_changed_config_rebuilds_and_force_rebuilds(built, tmp_path):
    out = tmp_path / "d"
    shutil.copytree(built.out_dir, out)
    assert sd.build_dataset(SMALL, out_dir=out, workers=1, progress=False).cached
    r = sd.build_dataset(TINY, out_dir=out, workers=1, progress=False)
    assert not r.cached and len(load_spikes(r.train_path)) == 2
    with h5py.File(r.train_path, "r") as f:
        assert {v.decode() for v in f["extra/noise"][()]} == {"none"}
    before = r.train_path.stat().st_ino
    r2 = sd.build_dataset(TINY, out_dir=out, workers=1, progress=False, force=True)
    assert not r2.cached and r2.train_path.stat().st_ino != before
    m = sd.read_manifest(out)
    assert m["config"]["noise"] is False and set(m["files"]) == {"train.h5", "test.h5"}


@needs_espeak
def test_failed_build_leaves_no_manifest(built, tmp_path, monkeypatch):
    out = tmp_path / "e"
    shutil.copytree(built.out_dir, out)
    real = sd._write_split

    def failing(path, split, *a, **k):
        if split == "test":
            raise OSError("disk full (simulated)")
        return real(path, split, *a, **k)

    monkeypatch.setattr(sd, "_write_split", failing)
    assert sd.is_cached(out, SMALL.config_hash(espeak.espeak_info().version))
    with pytest.raises(OSError):
        sd.build_dataset(TINY, out_dir=out, workers=1, progress=False)   # another config: rebuild, fails
    assert not (out / sd.MANIFEST).exists()           # the folder no longer claims any build
    assert not sd.is_cached(out, SMALL.config_hash(espeak.espeak_info().version))
    assert not sd.is_cached(out, TINY.config_hash(espeak.espeak_info().version))
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    monkeypatch.setattr(sd, "_write_split", real)
    assert not sd.build_dataset(TINY, out_dir=out, workers=1, progress=False).cached
    assert sd.is_cached(out, TINY.config_hash(espeak.espeak_info().version))


# --------------------------------------------------------------------------- missing espeak-ng

def test_missing_espeak_raises_with_install_hint_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    out = tmp_path / "f"
    with pytest.raises(MissingDependencyError) as err:
        sd.build_dataset(SMALL, out_dir=out, workers=1, progress=False)
    assert "apt-get install espeak-ng" in str(err.value)
    assert not out.exists()


@needs_espeak
def test_missing_voice_variant_is_named(tmp_path):
    cfg = SMALL.replace(variants=("m1", "m2", "m3", "m4", "no-such-voice"))
    with pytest.raises(MissingDependencyError, match="no-such-voice"):
        sd.build_dataset(cfg, out_dir=tmp_path / "g", workers=1, progress=False)
    assert not (tmp_path / "g").exists()


@needs_espeak
def test_speak_returns_audio_and_reports_failures(tmp_path):
    x, rate = espeak.speak("seven", voice="en", variant="m3", speed=175, pitch=50)
    assert rate == 22050 and 0.3 < x.size / rate < 2.0 and np.abs(x).max() > 0.05
    with pytest.raises(SpikedeployError, match="espeak-ng"):
        espeak.speak("seven", voice="en", variant="m3", program=str(tmp_path / "not-espeak"))
