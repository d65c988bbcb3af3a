"""GSC reader: split membership from the list files, feature shape and framing,
padding/cropping, Mel band of a tone, deltas of an exponential ramp, bad input."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from spikedeploy.data.gsc import (GscConfig, GscDataset, fix_length, log_mel_features, mel_band_edges,
                                  mix_background)
from spikedeploy.data.wav import write_wav
from spikedeploy.errors import ConfigError, DataFormatError

SR = 16000
LOG_FLOOR = float(np.log(np.float32(1e-6)))


def tone(freq, seconds=1.0, amp=0.5, rate=SR):
    t = np.arange(int(round(seconds * rate))) / rate
    return amp * np.sin(2 * np.pi * freq * t)


@pytest.fixture
def gsc_root(tmp_path):
    """yes/ no/ up/ with three clips each, noise, and the two list files."""
    root = tmp_path / "speech_commands"
    freqs = {"yes": 500.0, "no": 1000.0, "up": 2000.0}
    for word, f in freqs.items():
        (root / word).mkdir(parents=True)
        for j, name in enumerate(["aa_nohash_0", "bb_nohash_0", "cc_nohash_1"]):
            write_wav(root / word / f"{name}.wav", tone(f, seconds=(0.5, 1.0, 1.5)[j]), SR)
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "white_noise.wav",
              np.random.default_rng(0).uniform(-0.5, 0.5, 3 * SR), SR)
    (root / "validation_list.txt").write_text("yes/aa_nohash_0.wav\nno/bb_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("up/cc_nohash_1.wav\r\nyes/cc_nohash_1.wav\r\n\n")
    return root


def test_split_membership_from_list_files(gsc_root):
    train = GscDataset(gsc_root, "train")
    val = GscDataset(gsc_root, "validation")
    test = GscDataset(gsc_root, "testing")
    assert train.classes == val.classes == ("no", "up", "yes")  # _background_noise_ is not a class
    assert val.files == ("no/bb_nohash_0.wav", "yes/aa_nohash_0.wav") and val.labels.tolist() == [0, 2]
    assert test.files == ("up/cc_nohash_1.wav", "yes/cc_nohash_1.wav") and test.labels.tolist() == [1, 2]
    assert train.files == ("no/aa_nohash_0.wav", "no/cc_nohash_1.wav", "up/aa_nohash_0.wav",
                           "up/bb_nohash_0.wav", "yes/bb_nohash_0.wav")
    assert train.labels.tolist() == [0, 0, 1, 1, 2]
    assert len(train) + len(val) + len(test) == 9


def test_the_keyword_task_maps_other_words_to_unknown_and_adds_silence(gsc_root):
    train = GscDataset(gsc_root, "train", words=("yes", "up"), silence_fraction=0.4)
    assert train.classes == ("yes", "up", "_unknown_", "_silence_") and train.n_classes == 4
    # 5 clips (no, no, up, up, yes) + round(0.4 x 5) = 2 silence items
    assert train.labels.tolist() == [2, 2, 1, 1, 0, 3, 3]
    assert train.files[-2:] == ("_silence_/0", "_silence_/1")
    quiet = train.waveform(5)
    assert quiet.shape == (SR,) and 0 < float(np.abs(quiet).max()) <= 0.5 * 0.1       # noise x U(0, 0.1)
    assert np.array_equal(quiet, GscDataset(gsc_root, "train", words=("yes", "up"),
                                            silence_fraction=0.4).waveform(5))          # the same clip every time
    assert tuple(train[6][0].shape) == (3, 101, 40) and train[6][1] == 3
    with pytest.raises(DataFormatError, match="no word folder for left"):
        GscDataset(gsc_root, "train", words=("yes", "left"))
    (gsc_root / "_background_noise_" / "white_noise.wav").unlink()
    with pytest.raises(DataFormatError, match="silence clips"):
        GscDataset(gsc_root, "train", words=("yes",))


def test_items_have_s2net_shape_and_label(gsc_root):
    ds = GscDataset(gsc_root, "train")
    assert GscConfig().shape == (3, 101, 40)
    for i in range(len(ds)):  # 0.5 s, 1.0 s and 1.5 s files all give 101 frames
        x, label = ds[i]
        assert tuple(x.shape) == (3, 101, 40) and str(x.dtype) == "torch.float32"
        assert label == int(ds.labels[i])
    no_deltas = GscDataset(gsc_root, "validation", GscConfig(deltas=False))
    assert tuple(no_deltas[0][0].shape) == (1, 101, 40)


def test_padding_and_cropping(gsc_root):
    cfg = GscConfig()
    half = tone(1000.0, 0.5)
    padded = fix_length(half, cfg)
    assert padded.shape == (16000,) and np.array_equal(padded[:8000], np.float32(half)) and not padded[8000:].any()
    long = tone(1000.0, 1.5)
    assert np.array_equal(fix_length(long, cfg), np.float32(long[:16000]))

    f_half = log_mel_features(half, cfg)
    assert np.array_equal(f_half, log_mel_features(np.r_[half, np.zeros(8000)], cfg))
    # frame j (centred, 480-sample window) sees samples j*160 - 240 .. j*160 + 239: silent from j = 52 on
    assert np.all(f_half[0, 52:] == np.float32(LOG_FLOOR))
    assert np.all(f_half[0, :51].max(axis=1) > LOG_FLOOR + 10)
    assert np.array_equal(log_mel_features(long, cfg), log_mel_features(long[:16000], cfg))
    # the dataset does the same for the 0.5 s file
    ds = GscDataset(gsc_root, "validation")
    assert ds.files[1] == "yes/aa_nohash_0.wav"
    from spikedeploy.data.wav import read_wav
    raw, _ = read_wav(gsc_root / ds.files[1])
    assert raw.size == 8000
    assert np.array_equal(ds[1][0].numpy(), log_mel_features(raw, cfg))


def test_a_clip_at_another_sample_rate_is_resampled_to_16_khz(gsc_root):
    write_wav(gsc_root / "up" / "bb_nohash_0.wav", tone(2000.0, rate=8000), 8000)     # an 8 kHz clip, 1 s
    ds = GscDataset(gsc_root, "train")
    i = ds.files.index("up/bb_nohash_0.wav")
    x = ds[i][0].numpy()
    assert ds.waveform(i).shape == (SR,) and x.shape == (3, 101, 40)
    want = log_mel_features(tone(2000.0).astype(np.float32))[0].mean(axis=0)        # the same tone at 16 kHz
    assert int(x[0].mean(axis=0).argmax()) == int(want.argmax())


def test_tone_peaks_in_the_mel_band_that_contains_it():
    cfg = GscConfig()
    bands = mel_band_edges(cfg)
    assert bands.shape == (40, 3) and bands[0, 0] == pytest.approx(20.0) and bands[-1, 2] == pytest.approx(4000.0)
    for k in (0, 5, 13, 22, 31, 39):  # a tone at a band's centre frequency
        feats = log_mel_features(tone(bands[k, 1]), cfg)
        assert int(np.argmax(feats[0, 10:90].mean(axis=0))) == k
    for f in (250.0, 440.0, 1000.0, 3000.0):
        peak = int(np.argmax(log_mel_features(tone(f), cfg)[0, 10:90].mean(axis=0)))
        assert bands[peak, 0] < f < bands[peak, 2]
        assert peak == int(np.argmin(np.abs(bands[:, 1] - f)))


def test_deltas_of_an_exponential_ramp():
    # amplitude e^{a t}: log power grows by 2a per second = 2a * 0.01 per 10 ms frame
    a = 2.0
    t = np.arange(SR) / SR
    feats = log_mel_features(0.05 * np.exp(a * t) * np.sin(2 * np.pi * 1000 * t))
    k = int(np.argmax(feats[0, 50]))
    assert feats[1, 20:80, k] == pytest.approx(np.full(60, 2 * a * 0.01), rel=1e-3)
    assert np.abs(feats[2, 20:80, k]).max() < 1e-4


def test_mix_background_adds_scaled_noise_segment():
    rng = np.random.default_rng(0)
    clean = tone(500.0, 0.25)
    noise = np.arange(10000, dtype=np.float32) / 10000
    mixed = mix_background(clean, noise, rng, max_volume=0.2)
    # the same generator state gives the offset, then the gain
    replay = np.random.default_rng(0)
    o = int(replay.integers(0, noise.size - clean.size + 1))
    g = float(replay.uniform(0.0, 0.2))
    assert 0.0 < g <= 0.2
    assert np.array_equal(mixed, np.float32(clean) + np.float32(g) * noise[o:o + clean.size])
    assert np.allclose(mixed - np.float32(clean), g * noise[o:o + clean.size], atol=1e-6)
    # a short noise is tiled
    short = mix_background(np.zeros(100), np.ones(7), np.random.default_rng(1), max_volume=1.0)
    assert np.allclose(short, short[0]) and 0 < short[0] <= 1.0


def test_noise_mixing_train_only_and_reproducible(gsc_root):
    import torch

    clean = GscDataset(gsc_root, "train")
    noisy = GscDataset(gsc_root, "train", noise_prob=1.0, noise_max_volume=0.5)
    torch.manual_seed(5)
    a = noisy[0][0]
    torch.manual_seed(5)
    b = noisy[0][0]
    assert torch.equal(a, b) and not torch.equal(a, clean[0][0])
    val = GscDataset(gsc_root, "validation", noise_prob=1.0)
    assert val.noise_prob == 0.0
    assert torch.equal(val[0][0], GscDataset(gsc_root, "validation")[0][0])


def test_config_round_trip_and_checks():
    cfg = GscConfig(n_mels=64, deltas=False)
    assert GscConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.n_frames == 101 and cfg.win_samples == 480 and cfg.hop_samples == 160
    with pytest.raises(ConfigError, match="unknown key"):
        GscConfig.from_dict({"n_bands": 40})
    with pytest.raises(ConfigError, match="Nyquist"):
        GscConfig(fmax=9000.0)
    with pytest.raises(ConfigError, match="delta width"):
        GscConfig(clip=0.05)


# --------------------------------------------------------------------------- bad input

def test_bad_folder_without_list_files(gsc_root):
    (gsc_root / "testing_list.txt").unlink()
    with pytest.raises(DataFormatError) as info:
        GscDataset(gsc_root, "train")
    msg = str(info.value)
    assert "testing_list.txt" in msg and "list file not found" in msg and "remedy:" in msg


def test_bad_missing_folder_and_no_words(tmp_path):
    with pytest.raises(DataFormatError, match="GSC folder not found"):
        GscDataset(tmp_path / "nope")
    (tmp_path / "validation_list.txt").write_text("")
    (tmp_path / "testing_list.txt").write_text("")
    (tmp_path / "_background_noise_").mkdir()
    with pytest.raises(DataFormatError, match="no word folders"):
        GscDataset(tmp_path)


def test_bad_list_entries(gsc_root):
    (gsc_root / "validation_list.txt").write_text("yes/aa_nohash_0.wav\nleft/zz_nohash_0.wav\n")
    with pytest.raises(DataFormatError, match=r"validation_list.txt: entry 'left/zz_nohash_0.wav' \(line 2\)"):
        GscDataset(gsc_root, "validation")
    (gsc_root / "validation_list.txt").write_text("up/cc_nohash_1.wav\n")
    with pytest.raises(DataFormatError, match="also in validation_list.txt"):
        GscDataset(gsc_root, "train")


def test_bad_split_name(gsc_root):
    with pytest.raises(ConfigError, match="unknown split 'test'"):
        GscDataset(gsc_root, "test")


def test_bad_wavs_raise_naming_the_file(gsc_root):
    ds = GscDataset(gsc_root, "train")
    eight_bit = gsc_root / ds.files[0]
    with wave.open(str(eight_bit), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(SR)
        w.writeframes(bytes(range(256)) * 10)
    with pytest.raises(DataFormatError) as info:
        ds[0]
    assert str(eight_bit) in str(info.value) and "not 16-bit PCM" in str(info.value)
    empty = gsc_root / ds.files[1]
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
    with pytest.raises(DataFormatError) as info:
        ds[1]
    assert str(empty) in str(info.value) and "no samples" in str(info.value)
    garbage = gsc_root / ds.files[2]
    garbage.write_bytes(b"not a wav at all")
    with pytest.raises(DataFormatError, match="not a PCM wav file"):
        ds[2]
