"""The synthetic digits in GSC's folder layout: read back by our GSC reader with speaker-disjoint
splits, the same words and labels as the SHD-format build, cached, and never written into a
folder that is not its own."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from spikedeploy.data import synth_digits as sd
from spikedeploy.data.gsc import GscDataset
from spikedeploy.data.shd import load_spikes
from spikedeploy.data.shd_format import SHD_KEYS
from spikedeploy.data.synth_gsc import build_gsc_layout, speaker_name, validation_speakers
from spikedeploy.errors import DataFormatError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SMALL = sd.SynthConfig.default().replace(n_train=40, n_test=10)


@pytest.fixture(scope="module")
def gsc(tmp_path_factory):
    return build_gsc_layout(SMALL, tmp_path_factory.mktemp("gsc") / "speech", workers=1, progress=False)


def _speakers(ds: GscDataset) -> set[str]:
    return {f.split("/", 1)[1].split("_nohash_")[0] for f in ds.files}


def test_the_gsc_reader_reads_it_with_speaker_disjoint_splits(gsc):
    splits = {s: GscDataset(gsc.out_dir, s) for s in ("train", "validation", "testing")}
    assert {s: len(d) for s, d in splits.items()} == gsc.counts
    assert gsc.counts["testing"] == 10 and gsc.counts["train"] + gsc.counts["validation"] == 40
    held_out = validation_speakers(SMALL)
    assert gsc.counts["validation"] == sum(j.speaker.id in held_out for j in sd.plan(SMALL)["train"])
    assert splits["train"].classes == tuple(sorted(SHD_KEYS))
    tr, va, te = (_speakers(d) for d in splits.values())
    assert not tr & va and not tr & te and not va & te
    assert va == {speaker_name(i) for i in validation_speakers(SMALL)} & va
    x, y = splits["testing"][0]
    assert tuple(x.shape) == (3, 101, 40) and bool(np.isfinite(x.numpy()).all())
    assert {p.name for p in splits["train"].noise_files} == {f"{k}.wav" for k in SMALL.noise_types}


def test_the_default_build_holds_out_a_tenth_of_the_training_voices():
    cfg = sd.SynthConfig.default()
    held_out = validation_speakers(cfg)
    train = [s for s in sd.speakers(cfg) if s.split == "train"]
    variants = {s.variant for s in train}
    held = {s.variant for s in train if s.id in held_out}
    assert held and len(held) == max(1, round(0.1 * len(variants)))
    assert all(s.id in held_out for s in train if s.variant in held)       # whole voices, every pitch band
    share = sum(j.speaker.id in held_out for j in sd.plan(cfg)["train"]) / cfg.n_train
    assert 0.05 < share < 0.2


def test_the_same_utterances_as_the_shd_build(gsc, tmp_path):
    shd = sd.build_dataset(SMALL, out_dir=tmp_path / "shd", workers=1, progress=False)
    test = load_spikes(shd.test_path)
    words = sorted(SHD_KEYS)
    gsc_test = GscDataset(gsc.out_dir, "testing")
    got = sorted(words[int(label)] for label in gsc_test.labels)
    assert got == sorted(SHD_KEYS[int(label)] for label in test.labels)
    gsc_speakers = _speakers(gsc_test)
    assert gsc_speakers == {speaker_name(int(s)) for s in test.speakers}


def test_a_second_call_is_cached_and_a_foreign_folder_is_refused(gsc, tmp_path):
    again = build_gsc_layout(SMALL, gsc.out_dir, workers=1, progress=False)
    assert again.cached and again.counts == gsc.counts
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DataFormatError, match="not empty"):
        build_gsc_layout(SMALL, foreign, workers=1, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_training_clips_can_be_mixed_with_background_noise_reproducibly(gsc):
    import torch

    from spikedeploy.models.conv import ConvNetworkConfig
    from spikedeploy.training.config import TrainConfig
    from spikedeploy.training.gsc_data import load_gsc_split

    cfg = ConvNetworkConfig(n_classes=20)
    clean = load_gsc_split(gsc.out_dir, cfg, 0.1, seed=0)
    state = torch.random.get_rng_state()
    noisy = load_gsc_split(gsc.out_dir, cfg, 0.1, seed=0, noise_prob=1.0)
    assert torch.equal(torch.random.get_rng_state(), state)                   # the caller's generator untouched
    again = load_gsc_split(gsc.out_dir, cfg, 0.1, seed=0, noise_prob=1.0)
    assert torch.equal(noisy[0][0], again[0][0]) and not torch.equal(noisy[0][0], clean[0][0])
    assert torch.equal(noisy[2][0], clean[2][0]) and torch.equal(noisy[1][0], clean[1][0])   # test, validation clean
    assert noisy[3]["noise_prob"] == 1.0
    with pytest.raises(Exception, match="noise_prob"):
        TrainConfig(noise_prob=1.5)
