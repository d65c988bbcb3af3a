"""The cochlea front end: filter bank placement, levels, fast-vs-exact agreement,
hair-cell adaptation, the spike generator's statistics, and the wav -> SHD path."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest
from scipy.signal import lfilter

from spikedeploy.data import cochlea as co
from spikedeploy.data.cochlea import CochleaConfig, get_cochlea, nearest_channel
from spikedeploy.errors import ConfigError, DataFormatError, SpikedeployError

FS = 16000


def tone(freq: float, amp: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return amp * np.sin(2 * np.pi * freq * t)


def vowel_then_fricative() -> np.ndarray:
    """0.6 s: a 120 Hz harmonic complex shaped by three formants (with an attack and a
    decay), a gap, then a high-passed noise burst. Deterministic."""
    rng = np.random.default_rng(0)
    t = np.arange(int(0.6 * FS)) / FS
    x = np.zeros_like(t)
    for h in range(1, 40):
        f = 120.0 * h
        gain = sum(1.0 / (1.0 + ((f - fm) / bw) ** 2) for fm, bw in ((700, 90), (1200, 110), (2600, 160)))
        x += gain * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    env = np.clip(t / 0.02, 0, 1) * np.clip((0.32 - t) / 0.05, 0, 1)
    x *= env / np.sqrt(np.mean((x * env) ** 2) + 1e-12) * 0.03
    burst = lfilter([1, -0.95], [1], rng.standard_normal(t.size)) * ((t > 0.4) & (t < 0.55)) * 0.02
    return x + burst


# --------------------------------------------------------------------------- ERB scale

def test_erb_scale_goldens_and_spacing():
    assert co.hz_to_erb_number(1000.0) == pytest.approx(21.4 * math.log10(5.37), rel=1e-12)
    assert co.erb_bandwidth(1000.0) == pytest.approx(24.7 * 5.37, rel=1e-12)
    f = np.array([50.0, 440.0, 7000.0])
    np.testing.assert_allclose(co.erb_number_to_hz(co.hz_to_erb_number(f)), f, rtol=1e-12)
    fc = co.centre_frequencies(700, 50.0, 7000.0)
    assert fc[0] == pytest.approx(50.0) and fc[-1] == pytest.approx(7000.0)
    steps = np.diff(co.hz_to_erb_number(fc))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)          # equal ERB-number steps
    assert steps[0] == pytest.approx((co.hz_to_erb_number(7000.0) - co.hz_to_erb_number(50.0)) / 699)


def test_recursions_match_lfilter_and_cumsum():
    rng = np.random.default_rng(3)
    for t in (1, 31, 32, 33, 1000, 1057):
        x = rng.random((5, t))
        got = co._recursions(x, [(0.9, 0.1, -2.0), (0.5, 0.5, 1.5), (1.0, 1.0, 0.25)], direct=3.0)
        want = (3 * x - 2 * lfilter([0.1], [1, -0.9], x, axis=1) + 1.5 * lfilter([0.5], [1, -0.5], x, axis=1)
                + 0.25 * np.cumsum(x, axis=1))
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11)


# --------------------------------------------------------------------------- the filter bank

@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_tone_excites_the_channels_at_its_frequency(freq):
    c = get_cochlea()
    x = tone(freq, 0.03)                                   # -30 dB: 20 dB above threshold, unsaturated
    want = nearest_channel(freq)
    rates = c.rates(c.envelope(x, FS))
    assert abs(int(rates[:, 100:].sum(axis=1).argmax()) - want) <= 3
    times, units = c.encode(x, FS, seed=0)
    counts = np.bincount(units, minlength=700)
    smoothed = np.convolve(counts, np.ones(11), mode="same")
    assert abs(int(smoothed.argmax()) - want) <= 8          # 8 channels = 0.35 ERB
    near = np.abs(units.astype(int) - want) <= 46            # +-2 ERB (23 channels per ERB)
    assert near.mean() > 0.9
    assert 300 < times.size < 5000


def test_exact_mode_gives_the_analytic_level_of_a_steady_tone():
    # the FIRs are normalised to gain 1 at their centre: a sine of amplitude A gives
    # an envelope (mean half-wave rectified output) of A / pi in the channel at its frequency
    c = get_cochlea()
    ch = 318
    f = float(c.centre_hz[ch])
    for amp in (0.01, 0.1):
        env_exact = c.envelope(tone(f, amp), FS, mode="exact")[ch, 200:450].mean()
        env_fast = c.envelope(tone(f, amp), FS, mode="fast")[ch, 200:450].mean()
        assert 20 * math.log10(env_exact / (amp / math.pi)) == pytest.approx(0.0, abs=0.05)
        assert abs(20 * math.log10(env_fast / (amp / math.pi))) < 1.5   # the window's smoothing


def test_silence_and_sub_threshold_sound_give_no_spikes():
    c = get_cochlea()
    t, u = c.encode(np.zeros(FS), FS, seed=0)
    assert t.size == 0 and u.size == 0
    t, u = c.encode(tone(1000.0, 1e-4), FS, seed=0)        # -80 dB, 30 dB below threshold
    assert t.size == 0


def test_fast_mode_agrees_with_exact_mode():
    m = co.compare_modes(vowel_then_fricative(), FS)
    assert m["active_fraction"] > 0.05
    assert m["envelope_corr_db"] > 0.85
    assert m["envelope_median_abs_db"] < 2.5
    assert m["rate_corr"] > 0.85
    assert m["profile_corr"] > 0.99                       # expected spike counts per channel
    assert m["spike_profile_corr"] > 0.9                  # drawn counts (a few per channel)
    assert abs(m["spikes_fast"] / m["spikes_exact"] - 1) < 0.15


def test_input_at_another_rate_is_resampled():
    c = get_cochlea()
    x16 = tone(1000.0, 0.02)
    t32 = np.arange(int(0.5 * 32000)) / 32000
    x32 = 0.02 * np.sin(2 * np.pi * 1000.0 * t32)
    e16 = c.envelope(x16, FS)
    e32 = c.envelope(x32, 32000)
    assert e16.shape == e32.shape == (700, 500)
    np.testing.assert_allclose(e32[:, 50:450], e16[:, 50:450], rtol=0.02, atol=1e-6)


# --------------------------------------------------------------------------- hair cell

def test_hair_cell_rate_level_and_adaptation_goldens():
    cfg = CochleaConfig()
    c = get_cochlea(cfg)
    level = -30.0                                           # dB re full-scale sine
    env = np.zeros((2, 400), dtype=np.float32)
    env[:, 100:300] = 10 ** (level / 20) / math.pi
    r = c.rates(env)
    s = (level - cfg.threshold_db) / cfg.dynamic_range_db   # 0.4 of the range
    dr = math.exp(-cfg.dt / (cfg.adapt_rapid_ms * 1e-3))
    ds = math.exp(-cfg.dt / (cfg.adapt_slow_ms * 1e-3))
    onset = cfg.max_rate * s * (1 + cfg.adapt_rapid_gain * dr + cfg.adapt_slow_gain * ds)
    assert r[0, 100] == pytest.approx(onset, rel=1e-4)      # first frame of the step
    # after 200 ms the rapid part is gone and the slow one decayed by ds^200
    steady = cfg.max_rate * s * (1 + cfg.adapt_slow_gain * ds ** 200)
    assert r[0, 299] == pytest.approx(steady, rel=1e-3)
    assert np.all(r[:, :100] == 0)                          # silence before
    assert np.all(r[:, 300:310] == 0)                       # offset suppression (clipped at 0)
    assert r[0, 100] / r[0, 299] > 3.0


# --------------------------------------------------------------------------- spike generator

def test_spike_generator_counts_regularity_and_dead_time():
    cfg = CochleaConfig()
    c = get_cochlea(cfg)
    rates = np.full((700, 2000), 50.0, dtype=np.float32)   # 2 s at 50 spikes/s
    t, u = c.spikes(rates, seed=1)
    assert t.size == pytest.approx(700 * 2 * 50, rel=0.02)
    assert np.all(np.diff(t) >= 0) and u.dtype == np.uint16 and u.max() == 699
    order = np.lexsort((t, u))
    ts, us = t[order], u[order]
    isi = np.diff(ts)[us[1:] == us[:-1]]
    assert isi.mean() == pytest.approx(1 / 50, rel=0.03)
    assert isi.std() / isi.mean() == pytest.approx(1 / math.sqrt(cfg.regularity), abs=0.03)  # gamma(k): CV 1/sqrt(k)
    fast = np.full((50, 1000), 600.0, dtype=np.float32)    # near the dead time
    t, u = c.spikes(fast, seed=2)
    order = np.lexsort((t, u))
    isi = np.diff(t[order])[u[order][1:] == u[order][:-1]]
    assert isi.min() >= cfg.refractory_ms * 1e-3 - 1e-9


def test_encode_is_deterministic_for_a_seed():
    x = vowel_then_fricative()
    a = co.encode(x, FS, seed=5)
    b = co.encode(x, FS, seed=5)
    d = co.encode(x, FS, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].size != d[0].size or not np.array_equal(a[0], d[0])
    assert abs(a[0].size - d[0].size) < 0.1 * a[0].size    # same rates, other draws


# --------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("changes", [dict(mode="bogus"), dict(f_max=9000.0), dict(frame_ms=0.7),
                                     dict(max_rate=0.0), dict(fast_windows=(8,)), dict(regularity=-1.0)])
def test_bad_configuration_is_refused(changes):
    with pytest.raises(ConfigError):
        CochleaConfig(**changes)


def test_config_round_trips_through_a_dict():
    cfg = CochleaConfig(mode="exact", fast_windows=(256, 128))
    assert CochleaConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError):
        CochleaConfig.from_dict({"nope": 1})


# --------------------------------------------------------------------------- wav -> SHD file

def _write_pcm(path, samples, rate=FS, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 2:
            w.writeframes((np.asarray(samples) * 32767).astype("<i2").tobytes())
        else:
            w.writeframes(b"\x00" * width * len(samples))


def test_encode_wav_file_writes_an_shd_sample(tmp_path):
    from spikedeploy.data.shd import load_spikes
    from spikedeploy.data.wav import read_wav, write_wav

    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1000.0, 0.05, 0.4), FS)
    out = tmp_path / "tone.h5"
    summary = co.encode_wav_file(wav, out, label=7, seed=3)
    s = load_spikes(out)
    assert len(s) == 1 and int(s.labels[0]) == 7
    t, u = s.sample(0)
    x, rate = read_wav(wav)
    want_t, want_u = co.encode(x, rate, seed=3)
    np.testing.assert_array_equal(u, want_u)
    np.testing.assert_array_equal(t, want_t.astype(np.float32))
    assert f"{want_t.size} spikes" in summary


@pytest.mark.parametrize("case", ["24-bit", "empty", "missing"])
def test_encode_wav_file_refuses_bad_input_and_writes_nothing(tmp_path, case):
    wav = tmp_path / "in.wav"
    if case == "24-bit":
        _write_pcm(wav, np.zeros(100), width=3)
    elif case == "empty":
        _write_pcm(wav, np.zeros(0))
    out = tmp_path / "out.h5"
    with pytest.raises(DataFormatError) as err:
        co.encode_wav_file(wav, out)
    assert {"24-bit": "not 16-bit PCM", "empty": "no samples", "missing": "not found"}[case] in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if case == "missing" else ["in.wav"])


def test_encode_wav_file_into_a_missing_folder(tmp_path):
    from spikedeploy.data.wav import write_wav

    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1000.0, 0.05, 0.1), FS)
    with pytest.raises(SpikedeployError, match="does not exist"):
        co.encode_wav_file(wav, tmp_path / "nope" / "out.h5")
    assert not (tmp_path / "nope").exists()
