"""``spikedeploy data ...`` and ``spikedeploy main`` through ``spikedeploy.cli.main``."""

from __future__ import annotations

import shutil
import wave

import numpy as np
import pytest

from spikedeploy.cli import main
from spikedeploy.data import synth_digits as sd
from spikedeploy.data.shd import load_spikes
from spikedeploy.data.wav import write_wav

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
FS = 16000


@pytest.fixture
def tone_wav(tmp_path):
    t = np.arange(int(0.3 * FS)) / FS
    path = tmp_path / "tone.wav"
    write_wav(path, 0.05 * np.sin(2 * np.pi * 1000.0 * t), FS)
    return path


def test_encode_audio_then_info(tone_wav, tmp_path, capsys):
    out = tmp_path / "tone.h5"
    assert main(["data", "encode-audio", str(tone_wav), "-o", str(out), "--label", "3", "--seed", "1"]) == 0
    line = capsys.readouterr().out
    s = load_spikes(out)
    n = int(s.n_spikes[0])
    assert f"{n} spikes" in line and n > 100
    assert int(s.labels[0]) == 3
    units = s.all_units
    assert abs(int(np.median(units)) - 318) < 25           # 1 kHz sits near channel 318
    assert main(["data", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "samples: 1" in info and f"spikes per sample: mean {n}.0" in info


def test_encode_audio_exact_mode_is_close_to_fast(tone_wav, tmp_path):
    assert main(["data", "encode-audio", str(tone_wav), "-o", str(tmp_path / "f.h5")]) == 0
    assert main(["data", "encode-audio", str(tone_wav), "-o", str(tmp_path / "e.h5"), "--mode", "exact"]) == 0
    nf = int(load_spikes(tmp_path / "f.h5").n_spikes[0])
    ne = int(load_spikes(tmp_path / "e.h5").n_spikes[0])
    assert abs(nf / ne - 1) < 0.2


def _pcm(path, n, width):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(FS)
        w.writeframes(b"\x01" * width * n)


@pytest.mark.parametrize("case, message", [("24-bit", "not 16-bit PCM"), ("empty", "no samples"),
                                           ("missing", "file not found"), ("no-folder", "does not exist")])
def test_encode_audio_bad_input_prints_an_error_and_writes_nothing(tmp_path, capsys, tone_wav, case, message):
    wav, out = tmp_path / "in.wav", tmp_path / "out.h5"
    if case == "24-bit":
        _pcm(wav, 100, 3)
    elif case == "empty":
        _pcm(wav, 0, 2)
    elif case == "no-folder":
        wav, out = tone_wav, tmp_path / "missing" / "out.h5"
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["data", "encode-audio", str(wav), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikedeploy: error:") and message in err and "remedy" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not out.exists()


def test_info_on_a_missing_file_is_an_error(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "nope.h5")]) == 2
    assert "not found" in capsys.readouterr().err


def test_where_follows_the_cache_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPIKEDEPLOY_CACHE", str(tmp_path))
    assert main(["data", "where"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "synth-digits")


@needs_espeak
def test_synth_digits_small_then_cached(tmp_path, capsys):
    out = tmp_path / "digits"
    args = ["data", "synth-digits", "--out", str(out), "--train", "20", "--test", "2", "--workers", "1",
            "--seed", "3", "--no-noise"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"built data set in {out}")
    assert "samples: 20" in text and "samples: 2" in text and "classes: 20" in text
    tr = load_spikes(out / "train.h5")
    np.testing.assert_array_equal(np.bincount(tr.labels, minlength=20), np.ones(20))
    m = sd.read_manifest(out)
    assert m["config"]["seed"] == 3 and m["config"]["noise"] is False and m["config"]["n_test"] == 2
    mtime = (out / "train.h5").stat().st_mtime_ns
    assert main(args) == 0
    assert capsys.readouterr().out.startswith(f"reused cached data set in {out}")
    assert (out / "train.h5").stat().st_mtime_ns == mtime


@needs_espeak
def test_synth_digits_in_the_gsc_layout(tmp_path, capsys):
    assert main(["data", "synth-digits", "--layout", "gsc", "--train", "4", "--test", "2", "--no-noise"]) == 2
    assert "--out" in capsys.readouterr().err
    out = tmp_path / "speech"
    args = ["data", "synth-digits", "--layout", "gsc", "--out", str(out), "--train", "4", "--test", "2",
            "--workers", "1", "--no-noise"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith(f"wrote the GSC layout in {out}: train ")
    assert len((out / "testing_list.txt").read_text().splitlines()) == 2
    assert main(args) == 0 and capsys.readouterr().out.startswith("reused the GSC layout")


def test_synth_digits_without_espeak_prints_the_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    out = tmp_path / "digits"
    assert main(["data", "synth-digits", "--out", str(out), "--train", "20", "--test", "2"]) == 2
    err = capsys.readouterr().err
    assert "espeak-ng" in err and "apt-get install espeak-ng" in err
    assert not out.exists()


@needs_espeak
def test_main_builds_the_default_data_set_and_prints_its_summary(tmp_path, monkeypatch, capsys):
    # the real default (3000 utterances) takes minutes: shrink it for the test
    small = sd.SynthConfig.default().replace(n_train=20, n_test=4, noise=False)
    monkeypatch.setattr(sd.SynthConfig, "default", classmethod(lambda cls: small))
    monkeypatch.setenv("SPIKEDEPLOY_CACHE", str(tmp_path))
    assert main(["main", "--workers", "1", "--until", "data"]) == 0
    text = capsys.readouterr().out
    assert f"default data set: {tmp_path / 'synth-digits'} (built now)" in text
    assert "classes: 20" in text and "speaker-disjoint and voice-disjoint" in text
    assert main(["main", "--workers", "1", "--until", "data"]) == 0
    assert "(cached)" in capsys.readouterr().out
