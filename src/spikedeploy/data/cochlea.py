"""The cochlea front end: any sound -> 700-channel spike trains in the SHD format.

Stages (one :class:`Cochlea` object holds the designed filter bank):

1. **Gammatone filter bank.** ``n_channels`` 4th-order gammatone filters
   (:func:`scipy.signal.gammatone`, FIR form, bandwidth 1.019 ERB) with centre
   frequencies equally spaced on the ERB-number scale (Glasberg & Moore 1990)
   between ``f_min`` and ``f_max``; channel 0 is the lowest frequency, as in SHD.
   Each FIR is long enough for its envelope to decay by 80 dB.

   * ``mode="exact"``: the reference. Every channel is filtered in the time domain
     (exact linear convolution, computed by FFT); its instantaneous (Hilbert)
     envelope ``|y + j H{y}|`` is averaged over frames of ``frame_ms`` (the hair
     cell's membrane low-pass) and divided by pi, which for a narrow-band output
     equals the mean of the half-wave rectified output. Slow (about 0.5 s per
     second of audio). Phase locking (fine structure) is not passed on in either
     mode: at 1 ms frames it could only be kept below 500 Hz.
   * ``mode="fast"``: the FFT-domain gammatone (as in Ellis's "gammatonegram"):
     a short-time power spectrum with hop ``frame_ms``, weighted per channel by
     the squared magnitude response of the *same* FIR, gives each channel's
     short-time output power; channels use the shortest Hann window (from
     ``fast_windows``) whose equivalent noise bandwidth is at most
     ``window_erb_ratio`` ERB, so low channels keep their frequency resolution and
     high channels their time resolution. Each channel is delayed by its filter's
     energy centroid (whole frames) so its envelope lines up with the exact mode.
     The rms is converted to the mean of the half-wave rectified output
     (``rms * sqrt(2) / pi``, exact for a sinusoid), so both modes give the same
     level for a steady tone.

2. **Hair cell (adapting release).** The envelope's level in dB (re the envelope
   of a full-scale sine) drives a rate-level function, linear in dB from
   ``threshold_db`` to ``threshold_db + dynamic_range_db`` (0 to 1, clipped).
   Release adapts with a rapid and a short-term component (Westerman & Smith
   1984), modelled linearly: ``a = s + g_r (s - LP_r s) + g_st (s - LP_st s)``
   with first-order low-passes of time constants ``adapt_rapid_ms`` and
   ``adapt_slow_ms``. A step in level gives an onset rate ``1 + g_r + g_st`` times
   the steady rate, decaying with both time constants; an offset gives a
   suppression below the spontaneous rate. Rate ``r = max_rate * max(a, 0) +
   spont_rate`` (spikes/s).

3. **Bushy cell (integrate-and-fire with noisy threshold and refractoriness).**
   Each channel integrates its rate, ``Lambda(t) = int r dt``, and fires when
   ``Lambda`` crosses its threshold; after a spike the threshold moves up by a new
   Gamma(``regularity``, 1/``regularity``) draw (mean 1). This is a perfect
   integrate-and-fire neuron with subtractive reset and a random threshold, i.e.
   an inhomogeneous gamma renewal process (``regularity = 1`` is Poisson; larger
   is more regular, as bushy cells are); the role of the leak, a firing threshold,
   is played by the rate-level function's threshold. The initial membrane
   potential is random. Spike times are interpolated inside the frame, so they
   are not quantised to ``frame_ms``; a spike closer than ``refractory_ms`` to the
   previous spike of its channel is dropped (dead time). Everything is vectorised:
   the random draws come from ``numpy.random.default_rng(seed)``, so a seed gives
   identical spikes.

Output: ``(times, units)``, times in seconds sorted ascending (float64), units
uint16 in ``0..n_channels-1``. :func:`encode_wav_file` writes them in the SHD schema.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import check_outputs
from ..errors import ConfigError, DataFormatError
from .shd_format import write_shd
from .wav import read_wav

MODES = ("fast", "exact")
_FAST_SUBSAMPLE_DIV = 8
_BLOCK = 32          # frames per block of the spike generator's two-level search
_LN10 = math.log(10.0)


# --------------------------------------------------------------------------- ERB scale

def hz_to_erb_number(f: np.ndarray | float) -> np.ndarray | float:
    """ERB-number (Cams) of frequency ``f`` in Hz: ``21.4 log10(1 + 0.00437 f)``."""
    return 21.4 * np.log10(1.0 + 0.00437 * np.asarray(f, dtype=np.float64))


def erb_number_to_hz(e: np.ndarray | float) -> np.ndarray | float:
    """Inverse of :func:`hz_to_erb_number`."""
    return (10.0 ** (np.asarray(e, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def erb_bandwidth(f: np.ndarray | float) -> np.ndarray | float:
    """Equivalent rectangular bandwidth (Hz) of the auditory filter at ``f`` Hz."""
    return 24.7 * (4.37e-3 * np.asarray(f, dtype=np.float64) + 1.0)


def centre_frequencies(n_channels: int, f_min: float, f_max: float) -> np.ndarray:
    """``n_channels`` frequencies (Hz) equally spaced in ERB-number, ascending."""
    return erb_number_to_hz(np.linspace(hz_to_erb_number(f_min), hz_to_erb_number(f_max), n_channels))


def nearest_channel(freq: float, n_channels: int = 700, f_min: float = 50.0, f_max: float = 7000.0) -> int:
    """Index of the channel whose centre frequency is nearest ``freq`` (Hz)."""
    return int(np.argmin(np.abs(centre_frequencies(n_channels, f_min, f_max) - freq)))


# --------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class CochleaConfig:
    """Every constant of the cochlea; echoed into the files it writes."""

    sample_rate: int = 16000          #: Hz; input at another rate is resampled (polyphase)
    n_channels: int = 700
    f_min: float = 50.0               #: centre frequency of channel 0 (Hz)
    f_max: float = 7000.0             #: centre frequency of the last channel (Hz)
    mode: str = "fast"                #: "fast" (FFT-domain) or "exact" (time-domain reference)
    frame_ms: float = 1.0             #: time resolution of envelopes and rates
    fast_windows: tuple[int, ...] = (512, 256, 128)  #: Hann window lengths (samples), fast mode
    window_erb_ratio: float = 1.0     #: a channel takes the shortest window with ENBW <= ratio * ERB
    threshold_db: float = -50.0       #: level (dB re full-scale sine) where firing starts
    dynamic_range_db: float = 50.0    #: level range from threshold to saturation
    max_rate: float = 100.0           #: steady-state saturated rate (spikes/s)
    spont_rate: float = 0.0           #: spontaneous rate (spikes/s)
    adapt_rapid_ms: float = 3.0
    adapt_rapid_gain: float = 1.5
    adapt_slow_ms: float = 40.0
    adapt_slow_gain: float = 1.0
    regularity: float = 4.0           #: gamma order of the threshold draws (1 = Poisson)
    refractory_ms: float = 1.0        #: dead time after a spike

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast_windows", tuple(int(n) for n in self.fast_windows))
        if self.mode not in MODES:
            raise ConfigError("cochlea.mode", f"unknown mode {self.mode!r}", valid=MODES)
        if self.sample_rate < 1000:
            raise ConfigError("cochlea.sample_rate", f"{self.sample_rate} Hz is too low (need >= 1000)")
        if self.n_channels < 1:
            raise ConfigError("cochlea.n_channels", f"must be >= 1, got {self.n_channels}")
        if not 0.0 < self.f_min < self.f_max < self.sample_rate / 2:
            raise ConfigError("cochlea.f_min/f_max",
                              f"need 0 < f_min < f_max < sample_rate/2, got {self.f_min}, {self.f_max}, "
                              f"sample_rate {self.sample_rate}")
        hop = self.frame_ms * 1e-3 * self.sample_rate
        if self.frame_ms <= 0 or abs(hop - round(hop)) > 1e-9 or round(hop) < 1:
            raise ConfigError("cochlea.frame_ms", f"{self.frame_ms} ms is not a whole number (>= 1) of samples "
                                                  f"at {self.sample_rate} Hz")
        if not self.fast_windows or any(n < 2 * round(hop) or n % 2 for n in self.fast_windows):
            raise ConfigError("cochlea.fast_windows",
                              f"{self.fast_windows}: need even window lengths of at least two hops")
        for name in ("dynamic_range_db", "max_rate", "adapt_rapid_ms", "adapt_slow_ms", "regularity",
                     "window_erb_ratio"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"cochlea.{name}", f"must be > 0, got {getattr(self, name)}")
        for name in ("spont_rate", "adapt_rapid_gain", "adapt_slow_gain", "refractory_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"cochlea.{name}", f"must be >= 0, got {getattr(self, name)}")

    @property
    def hop(self) -> int:
        """Samples per frame."""
        return int(round(self.frame_ms * 1e-3 * self.sample_rate))

    @property
    def dt(self) -> float:
        """Frame length in seconds."""
        return self.hop / self.sample_rate

    def replace(self, **changes: Any) -> "CochleaConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fast_windows"] = list(self.fast_windows)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CochleaConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError("cochlea", f"unknown field(s) {unknown}", valid=sorted(names))
        d = dict(d)
        if "fast_windows" in d:
            d["fast_windows"] = tuple(d["fast_windows"])
        return cls(**d)


# --------------------------------------------------------------------------- helpers

def _recursions(x: np.ndarray, terms: list[tuple[float, float, float]], direct: float = 0.0,
                block: int = 32) -> np.ndarray:
    """Linear recursions along the last axis of ``x`` (``[rows, time]``), all at once.

    Returns ``direct * x + sum_i c_i * y_i`` where ``y_i[:, t] = d_i * y_i[:, t-1] + g_i * x[:, t]``
    (``y_i = 0`` before the start) for ``terms = [(d_i, g_i, c_i), ...]``. ``d = g = 1``
    is a cumulative sum; ``d = exp(-dt/tau), g = 1 - d`` a first-order low-pass.

    Computed blockwise with matrix products: inside blocks of ``block`` steps by one
    lower-triangular kernel, the state carried from block to block by a second small
    kernel. Exact up to float rounding, and much faster than ``lfilter``, ``cumsum``
    or a loop over time for hundreds of rows.
    """
    rows, t = x.shape
    nb = max(-(-t // block), 1)
    nt = len(terms)
    # each block's row: its `block` inputs, then the states carried into it (one per term)
    xa = np.empty((rows, nb, block + nt), dtype=x.dtype)
    full = t // block
    xa[:, :full, :block] = x[:, : full * block].reshape(rows, full, block)
    if t > full * block:
        xa[:, full, : t - full * block] = x[:, full * block:]
        xa[:, full, t - full * block: block] = 0.0
    xa[:, :, block:] = 0.0
    x2 = xa.reshape(rows * nb, block + nt)
    i = np.arange(block)
    lag = np.maximum(i[:, None] - i[None, :], 0).astype(np.float64)      # [out, in]
    lower = i[:, None] >= i[None, :]
    kernel = np.zeros((block + nt, block))                                 # [in (+ carried states), out]
    kernel[:block] = direct * np.eye(block)
    if nt and nb > 1:
        # state at the end of each block from the block alone ...
        ends_of = np.stack([g * np.asarray(d, dtype=np.float64) ** (block - 1 - i) for d, g, _ in terms], axis=1)
        local_end = (x2[:, :block] @ _flush(ends_of).astype(x.dtype)).reshape(rows, nb, nt)
        k = np.arange(nb)
        for j, (d, _, _) in enumerate(terms):
            # ... then carried through the earlier blocks: end_k = sum_{m<=k} d^(block (k-m)) local_end_m
            carry = np.where(k[:, None] <= k[None, :],
                             float(d) ** (block * np.maximum(k[None, :] - k[:, None], 0)), 0.0)
            ends = np.ascontiguousarray(local_end[:, :, j]) @ _flush(carry).astype(x.dtype)  # [rows, nb]
            xa[:, 1:, block + j] = ends[:, :-1]
    for j, (d, g, c) in enumerate(terms):
        kernel[:block] += c * g * np.where(lower, float(d) ** lag, 0.0).T
        kernel[block + j] = c * float(d) ** (i + 1)
    y = x2 @ _flush(kernel).astype(x.dtype)
    return y.reshape(rows, nb * block)[:, :t]


def _flush(a: np.ndarray) -> np.ndarray:
    """Zero the entries too small for float32 (subnormals make matrix products crawl)."""
    return np.where(np.abs(a) < 1e-30, 0.0, a)


def _as_signal(samples: np.ndarray, rate: int, cfg: CochleaConfig, where: str | Path) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 2:  # (n, channels) -> mono
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise DataFormatError(where, f"expected a 1-D signal (or samples x channels), got shape {x.shape}")
    if x.size == 0:
        raise DataFormatError(where, "the signal holds no samples", remedy="give at least one sample of audio")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DataFormatError(where, "the signal contains NaN or infinite values")
    if int(rate) != cfg.sample_rate:
        if rate <= 0:
            raise DataFormatError(where, f"sample rate {rate} is not positive")
        from scipy.signal import resample_poly

        g = math.gcd(int(rate), cfg.sample_rate)
        x = resample_poly(x, cfg.sample_rate // g, int(rate) // g)
    return x


# --------------------------------------------------------------------------- the model

class Cochlea:
    """A designed filter bank plus the hair-cell and bushy-cell stages.

    Build with :func:`get_cochlea` (cached per configuration) or directly.
    """

    def __init__(self, config: CochleaConfig | None = None):
        from scipy.signal import gammatone

        self.config = cfg = config or CochleaConfig()
        fs = cfg.sample_rate
        self.centre_hz = centre_frequencies(cfg.n_channels, cfg.f_min, cfg.f_max)
        bw = 2 * np.pi * 1.019 * erb_bandwidth(self.centre_hz)
        # envelope t^3 exp(-bw t) peaks at 3/bw; -80 dB below the peak after 5.9 times that
        self.n_taps = np.maximum(np.ceil(5.9 * 3.0 / bw * fs).astype(int), 16)
        max_taps = int(self.n_taps.max())
        firs = np.zeros((cfg.n_channels, max_taps))
        for c, (f, n) in enumerate(zip(self.centre_hz, self.n_taps)):
            firs[c, :n] = gammatone(float(f), "fir", numtaps=int(n), fs=fs)[0]
        self.firs = firs
        energy = firs ** 2
        #: energy centroid of each impulse response (samples): the envelope's delay
        self.delay_samples = (energy @ np.arange(max_taps)) / energy.sum(axis=1)
        self._design_fast()

    # -- fast mode design
    def _design_fast(self) -> None:
        cfg = self.config
        fs, hop = cfg.sample_rate, cfg.hop
        windows = sorted(cfg.fast_windows)  # short to long
        enbw = np.array([1.5 * fs / n for n in windows])
        erb = erb_bandwidth(self.centre_hz)
        choice = np.full(cfg.n_channels, len(windows) - 1)
        for c in range(cfg.n_channels):
            ok = np.nonzero(enbw <= cfg.window_erb_ratio * erb[c])[0]
            if ok.size:
                choice[c] = ok[0]
        self.groups: list[dict[str, Any]] = []
        for w_i, n in enumerate(windows):
            chans = np.nonzero(choice == w_i)[0]
            if chans.size == 0:
                continue
            # |H(f)|^2 of each FIR at the n-point STFT bins (a grid of a multiple of n points)
            m = n * -(-self.firs.shape[1] // n)
            h2 = (np.abs(np.fft.rfft(self.firs[chans], n=m, axis=1)) ** 2)[:, :: m // n]
            window = np.hanning(n + 2)[1:-1]                          # symmetric, no zero end points
            # sum_k |H_k|^2 |X_k|^2 * 2 / (n sum w^2) = mean square of the channel output,
            # then * 2/pi^2 = (mean of the half-wave rectified output)^2
            h2 = h2 * (2.0 / (n * np.sum(window ** 2))) * (2.0 / np.pi ** 2)
            keep = np.nonzero(h2.max(axis=0) >= 1e-7 * h2.max())[0]  # bins within 70 dB
            k0, k1 = int(keep[0]), int(keep[-1]) + 1
            delays = np.rint((self.delay_samples[chans] - hop / 2) / hop).astype(int)
            # the short-time power of an n-sample Hann window varies no faster than ~4 fs/n Hz:
            # it is computed every n/DIV samples (at least every frame) and interpolated
            sub = max(1, (n // _FAST_SUBSAMPLE_DIV) // hop)
            self.groups.append(dict(n=n, sub=sub, c0=int(chans[0]), c1=int(chans[-1]) + 1, k0=k0, k1=k1,
                                    weights=np.ascontiguousarray(h2[:, k0:k1], dtype=np.float32),
                                    window=window.astype(np.float32), delays=np.maximum(delays, 0)))
        # channels come out contiguous and in order (shortest window = highest frequencies)
        self.groups.sort(key=lambda g: g["c0"])

    # -- stage 1: envelopes
    def n_frames(self, n_samples: int) -> int:
        return -(-int(n_samples) // self.config.hop)

    def envelope(self, samples: np.ndarray, rate: int | None = None, *, mode: str | None = None) -> np.ndarray:
        """Channel envelopes ``[n_channels, n_frames]``: mean half-wave rectified output per frame."""
        cfg = self.config
        x = _as_signal(samples, cfg.sample_rate if rate is None else rate, cfg, "<samples>")
        mode = mode or cfg.mode
        if mode == "exact":
            return self._envelope_exact(x)
        if mode == "fast":
            return self._envelope_fast(x)
        raise ConfigError("cochlea.mode", f"unknown mode {mode!r}", valid=MODES)

    def _envelope_exact(self, x: np.ndarray) -> np.ndarray:
        from scipy.fft import ifft, next_fast_len, rfft

        cfg = self.config
        hop, n = cfg.hop, x.size
        t = self.n_frames(n)
        nfft = next_fast_len(n + self.firs.shape[1] - 1, real=True)
        nfft += nfft % 2
        chunk = int(min(50, max(1, 1e7 // nfft)))   # channels at a time: <= ~160 MB of spectra
        half = nfft // 2
        xf = rfft(x, n=nfft)
        xf[1:half] *= 2.0                      # one-sided spectrum -> analytic signal
        env = np.empty((cfg.n_channels, t), dtype=np.float32)
        for c0 in range(0, cfg.n_channels, chunk):
            hf = rfft(self.firs[c0:c0 + chunk], n=nfft, axis=1)
            spec = np.zeros((hf.shape[0], nfft), dtype=np.complex128)
            spec[:, : half + 1] = hf * xf[None, :]
            z = np.abs(ifft(spec, axis=1)[:, : t * hop])   # exact instantaneous envelope
            z[:, n:] = 0.0
            env[c0:c0 + chunk] = z.reshape(z.shape[0], t, hop).mean(axis=2) / np.pi
        return env

    def _envelope_fast(self, x: np.ndarray) -> np.ndarray:
        from scipy.fft import rfft

        cfg = self.config
        hop, n = cfg.hop, x.size
        t = self.n_frames(n)
        x32 = x.astype(np.float32)
        power = np.empty((cfg.n_channels, t), dtype=np.float32)
        for g in self.groups:
            w, m = g["n"], g["sub"]
            step = hop * m
            tc = -(-t // m) + (m > 1)       # coarse frame k sits on frame k * m (+1 to interpolate the end)
            # frame k is centred on the middle of the exact mode's frame k
            left = w // 2 - hop // 2
            xp = np.zeros(left + tc * step + w, dtype=np.float32)
            xp[left:left + n] = x32
            frames = np.lib.stride_tricks.sliding_window_view(xp, w)[::step][:tc]
            spec = rfft(frames * g["window"], axis=1, workers=1)[:, g["k0"]:g["k1"]]
            p = spec.real ** 2
            p += spec.imag ** 2
            coarse = g["weights"] @ p.T                                # [channels of group, tc]
            if m > 1:                                                  # linear interpolation to frames
                nc = coarse.shape[0]
                fine = np.empty((nc, tc - 1, m), dtype=np.float32)
                for j in range(m):
                    np.multiply(coarse[:, :-1], np.float32(1 - j / m), out=fine[:, :, j])
                    if j:
                        fine[:, :, j] += np.float32(j / m) * coarse[:, 1:]
                block = fine.reshape(nc, (tc - 1) * m)
            else:
                block = coarse
            c0 = g["c0"]
            delays = g["delays"]
            # apply each channel's delay (whole frames); channels with equal delay are contiguous
            edges = np.nonzero(np.diff(delays))[0] + 1
            for a, b in zip(np.r_[0, edges], np.r_[edges, delays.size]):
                d = int(delays[a])
                if d >= t:
                    power[c0 + a:c0 + b] = 0.0
                elif d:
                    power[c0 + a:c0 + b, :d] = 0.0
                    power[c0 + a:c0 + b, d:] = block[a:b, : t - d]
                else:
                    power[c0 + a:c0 + b] = block[a:b, :t]
        return np.sqrt(power, out=power)            # weights and powers are >= 0: no clipping needed

    # -- stage 2: hair cell
    def rates(self, env: np.ndarray) -> np.ndarray:
        """Adapted firing rates (spikes/s) ``[n_channels, n_frames]`` from envelopes."""
        cfg = self.config
        env = np.asarray(env, dtype=np.float32)
        # drive s = (level - threshold) / range, clipped to 0..1, with the level in dB re
        # the envelope of a full-scale sine (1/pi): 20 log10(pi env)
        scale = 20.0 / _LN10 / cfg.dynamic_range_db
        s = np.add(env, np.float32(1e-12 / np.pi))
        np.log(s, out=s)
        s *= np.float32(scale)
        s += np.float32(scale * math.log(np.pi) - cfg.threshold_db / cfg.dynamic_range_db)
        np.clip(s, 0.0, 1.0, out=s)
        # adaptation: a = s (1 + g_r + g_st) - g_r LP_r(s) - g_st LP_st(s), times max_rate
        dt = cfg.dt
        terms = []
        for tau_ms, gain in ((cfg.adapt_rapid_ms, cfg.adapt_rapid_gain), (cfg.adapt_slow_ms, cfg.adapt_slow_gain)):
            if gain:
                decay = math.exp(-dt / (tau_ms * 1e-3))
                terms.append((decay, 1.0 - decay, -gain * cfg.max_rate))
        a = _recursions(s, terms, direct=(1.0 + cfg.adapt_rapid_gain + cfg.adapt_slow_gain) * cfg.max_rate)
        np.maximum(a, 0.0, out=a)
        if cfg.spont_rate:
            a += np.float32(cfg.spont_rate)
        return a

    # -- stage 3: bushy cells
    def spikes(self, rates: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (s, ascending) and units from rates ``[n_channels, n_frames]``."""
        cfg = self.config
        rates = np.asarray(rates, dtype=np.float32)
        c, t = rates.shape
        dt = cfg.dt
        rng = np.random.default_rng(seed)
        # cumulative hazard Lambda at the end of each block of _BLOCK frames (the in-block
        # values are computed below only for the blocks where a threshold is crossed)
        block = _BLOCK
        block_end = np.cumsum(np.add.reduceat(rates, np.arange(0, t, block), axis=1, dtype=np.float64), axis=1)
        block_end *= dt
        nb = block_end.shape[1]
        total = block_end[:, -1]
        k = cfg.regularity
        # thresholds: cumulative sums of Gamma(k, 1/k) draws per channel, first one partial
        need = np.ceil(total + 5.0 * np.sqrt(total / k) + 3.0).astype(np.int64)
        need[total <= 0] = 0
        starts = np.concatenate(([0], np.cumsum(need)))
        draws = rng.gamma(k, 1.0 / k, int(starts[-1]))
        phase = rng.random(c)
        unit_of = np.repeat(np.arange(c), need)
        first = starts[:-1][need > 0]
        draws[first] *= phase[need > 0]
        csum = np.cumsum(draws)
        seg_base = np.concatenate(([0.0], csum))[starts[:-1]]
        thr = csum - np.repeat(seg_base, need)
        # rare: a channel's thresholds did not reach its total; top it up
        has = need > 0
        last_thr = np.full(c, np.inf)
        last_thr[has] = thr[starts[1:][has] - 1]
        short = np.nonzero(last_thr < total)[0]
        if short.size:
            extra_t, extra_u = [], []
            for ch in short:
                last = thr[starts[ch + 1] - 1]
                more = last + np.cumsum(rng.gamma(k, 1.0 / k, int(need[ch]) + 16))
                while more[-1] < total[ch]:
                    more = np.concatenate((more, more[-1] + np.cumsum(rng.gamma(k, 1.0 / k, 64))))
                extra_t.append(more)
                extra_u.append(np.full(more.size, ch))
            thr = np.concatenate([thr, *extra_t])
            unit_of = np.concatenate([unit_of, *extra_u])
            order = np.lexsort((thr, unit_of))
            thr, unit_of = thr[order], unit_of[order]
        keep = thr < total[unit_of]
        thr, unit_of = thr[keep], unit_of[keep]
        if thr.size == 0:
            return np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.uint16)
        # the block of each crossing: search all channels at once, channel ch offset by ch * span
        span = float(total.max()) + 1.0
        offsets = np.arange(c, dtype=np.float64) * span
        kb = np.searchsorted((block_end + offsets[:, None]).ravel(), thr + offsets[unit_of], side="left")
        kb = np.minimum(kb - unit_of * nb, nb - 1)              # guards rounding at a row's end
        base = np.where(kb > 0, block_end[unit_of, np.maximum(kb - 1, 0)], 0.0)
        # Lambda inside those blocks, and the frame where it reaches the threshold
        cols = kb[:, None] * block + np.arange(block)
        seg = rates[unit_of[:, None], np.minimum(cols, t - 1)].astype(np.float64)
        seg[cols >= t] = 0.0
        cum = np.cumsum(seg, axis=1)
        cum *= dt
        cum += base[:, None]
        j = np.minimum((cum < thr[:, None]).sum(axis=1), block - 1)
        frame = np.minimum(kb * block + j, t - 1)
        rows = np.arange(thr.size)
        hi = cum[rows, j]
        lo = np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], base)
        frac = np.clip((thr - lo) / np.maximum(hi - lo, 1e-300), 0.0, 1.0)
        times = (frame + frac) * dt
        # dead time: drop a spike too close to the previous one of its channel
        if cfg.refractory_ms > 0 and times.size > 1:
            same = unit_of[1:] == unit_of[:-1]
            close = same & (np.diff(times) < cfg.refractory_ms * 1e-3)
            keep = np.concatenate(([True], ~close))
            times, unit_of = times[keep], unit_of[keep]
        order = np.argsort(times, kind="stable")
        return times[order], unit_of[order].astype(np.uint16)

    # -- everything
    def encode(self, samples: np.ndarray, rate: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Sound -> ``(times, units)``: envelope, hair cell, bushy cells."""
        return self.spikes(self.rates(self.envelope(samples, rate)), seed=seed)


@functools.lru_cache(maxsize=8)
def get_cochlea(config: CochleaConfig | None = None) -> Cochlea:
    """The designed :class:`Cochlea` for ``config`` (designed once per process)."""
    return Cochlea(config or CochleaConfig())


def encode(samples: np.ndarray, rate: int, seed: int = 0,
           config: CochleaConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Encode a sound (float samples at ``rate`` Hz) into ``(times, units)``."""
    return get_cochlea(config or CochleaConfig()).encode(samples, rate, seed)


def encode_wav_file(wav: str | Path, out_h5: str | Path, label: int = 0, seed: int = 0,
                    config: CochleaConfig | None = None) -> str:
    """Encode a 16-bit PCM wav into a one-sample SHD file; return a one-line summary.

    Errors (missing, empty or non-16-bit wav; missing output folder) are raised
    before anything is written; the output appears complete or not at all.
    """
    cfg = config or CochleaConfig()
    check_outputs({"output (-o)": out_h5}, {"wav": wav})
    out_h5 = Path(out_h5)
    samples, rate = read_wav(wav)
    x = _as_signal(samples, rate, cfg, wav)
    times, units = get_cochlea(cfg).encode(x, cfg.sample_rate, seed)
    write_shd(out_h5, [times], [units], [int(label)], [0],
              attrs={"generator": "spikedeploy.data.cochlea", "source": str(wav),
                     "cochlea": json.dumps(cfg.to_dict()), "seed": int(seed)})
    dur = samples.size / rate
    active = np.unique(units).size
    return (f"{wav} -> {out_h5}: {dur:.3f} s of audio at {rate} Hz, {times.size} spikes on "
            f"{active} of {cfg.n_channels} channels ({cfg.mode} mode, seed {seed})")


def compare_modes(samples: np.ndarray, rate: int, config: CochleaConfig | None = None,
                  seed: int = 0) -> dict[str, float]:
    """How close the fast mode is to the exact one on a signal.

    Returns: ``envelope_corr_db`` (Pearson correlation of the two envelopes in dB over
    the channel-frames where either is above the firing threshold), ``envelope_median_abs_db``
    and ``envelope_p90_abs_db`` (absolute level differences there), ``rate_corr``
    (correlation of the adapted rates over all channel-frames), ``profile_corr``
    (correlation of the per-channel spike counts), and the two spike totals.
    """
    cfg = (config or CochleaConfig()).replace(mode="fast")
    co = get_cochlea(cfg)
    fast = co.envelope(samples, rate, mode="fast")
    exact = co.envelope(samples, rate, mode="exact")
    lf = 20 * np.log10(np.pi * fast.astype(np.float64) + 1e-12)
    le = 20 * np.log10(np.pi * exact.astype(np.float64) + 1e-12)
    active = np.maximum(lf, le) > cfg.threshold_db
    diff = np.abs(lf - le)[active]
    rf, re_ = co.rates(fast), co.rates(exact)
    tf, uf = co.spikes(rf, seed)
    te, ue = co.spikes(re_, seed)
    cf = np.bincount(uf, minlength=cfg.n_channels)
    ce = np.bincount(ue, minlength=cfg.n_channels)
    corr = lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if a.size > 1 else float("nan")  # noqa: E731
    return {
        "active_fraction": float(active.mean()),
        "envelope_corr_db": corr(lf[active], le[active]),
        "envelope_median_abs_db": float(np.median(diff)) if diff.size else float("nan"),
        "envelope_p90_abs_db": float(np.percentile(diff, 90)) if diff.size else float("nan"),
        "rate_corr": corr(rf, re_),
        "profile_corr": corr(rf.sum(axis=1), re_.sum(axis=1)),
        "spike_profile_corr": corr(cf, ce),
        "spikes_fast": int(tf.size),
        "spikes_exact": int(te.size),
    }
