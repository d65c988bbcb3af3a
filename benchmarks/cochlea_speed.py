"""Cochlea speed (fast vs exact filter bank, one core) and how close the fast mode is.

For each test signal (1 s at 16 kHz: espeak-ng words at -25 dB when espeak-ng is
installed, a synthetic vowel + fricative, pink noise) it times the whole encoder
(filter bank + hair cell + bushy cells, 700 channels) in both modes, side by side in
one run, with BLAS limited to one thread, and reports wall and CPU time per utterance
(median of the repeats), the per-stage split of the fast mode, the exact/fast ratio,
and the agreement metrics of :func:`spikedeploy.data.cochlea.compare_modes`.

    .venv/bin/python benchmarks/cochlea_speed.py [--repeats 30] [--exact-repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

FS = 16000


def signals() -> dict[str, np.ndarray]:
    from scipy.signal import lfilter

    rng = np.random.default_rng(0)
    t = np.arange(FS) / FS
    out: dict[str, np.ndarray] = {}
    if shutil.which("espeak-ng"):
        from spikedeploy.data.espeak import speak
        from spikedeploy.data.synth_digits import _resample, _trim

        for word, voice in (("seven", "en-us"), ("zwei", "de")):
            x, rate = speak(word, voice=voice, variant="m3")
            x = _resample(_trim(x, rate), rate, FS)[:FS]
            sig = np.zeros(FS)
            sig[1000:1000 + x.size] = x[: FS - 1000]
            out[f"espeak '{word}'"] = sig / np.sqrt(np.mean(x ** 2)) * 10 ** (-25 / 20)
    v = np.zeros(FS)
    for h in range(1, 40):
        f = 120.0 * h
        g = sum(1 / (1 + ((f - fm) / bw) ** 2) for fm, bw in ((700, 90), (1200, 110), (2600, 160)))
        v += g * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    env = np.clip(t / 0.02, 0, 1) * np.clip((0.45 - t) / 0.05, 0, 1)
    v *= env / np.sqrt(np.mean((v * env) ** 2)) * 10 ** (-25 / 20)
    v += lfilter([1, -0.95], [1], rng.standard_normal(FS)) * ((t > 0.55) & (t < 0.75)) * 0.02
    out["vowel + fricative"] = v
    spec = np.fft.rfft(rng.standard_normal(FS))
    spec[1:] /= np.sqrt(np.arange(1, spec.size))
    spec[0] = 0
    pink = np.fft.irfft(spec, n=FS)
    out["pink noise"] = pink / np.sqrt(np.mean(pink ** 2)) * 10 ** (-30 / 20)
    return out


def timed(fn, repeats: int) -> tuple[float, float, float, float]:
    """(median wall, min wall, median thread CPU, min thread CPU) in seconds."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.thread_time()
        fn()
        cpus.append(time.thread_time() - c)
        walls.append(time.perf_counter() - w)
    return statistics.median(walls), min(walls), statistics.median(cpus), min(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30, help="timed repeats of the fast mode per signal")
    ap.add_argument("--exact-repeats", type=int, default=3, help="timed repeats of the exact mode per signal")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)                  # one core: BLAS and FFT single-threaded
    except ImportError:
        print("warning: threadpoolctl missing; BLAS may use several threads", file=sys.stderr)
    from spikedeploy.data.cochlea import CochleaConfig, Cochlea, compare_modes

    t0 = time.perf_counter()
    co = Cochlea(CochleaConfig())
    design = time.perf_counter() - t0
    print(f"filter bank design: {design:.2f} s (once per process); channels {co.config.n_channels}, "
          f"frame {co.config.frame_ms} ms; fast-mode windows: "
          + ", ".join(f"{g['n']} samples for channels {g['c0']}-{g['c1'] - 1}" for g in co.groups))
    rows = []
    for name, x in signals().items():
        co.encode(x, FS, 0)                       # warm up
        fast = timed(lambda: co.encode(x, FS, 0), args.repeats)
        env = co.envelope(x, FS)
        rates = co.rates(env)
        st_env = timed(lambda: co.envelope(x, FS), args.repeats)[0]
        st_rates = timed(lambda: co.rates(env), args.repeats)[0]
        st_spikes = timed(lambda: co.spikes(rates, 0), args.repeats)[0]
        exact = timed(lambda: co.spikes(co.rates(co.envelope(x, FS, mode="exact")), 0), args.exact_repeats)
        agree = compare_modes(x, FS)
        row = dict(signal=name, fast_wall_ms=fast[0] * 1e3, fast_min_ms=fast[1] * 1e3, fast_cpu_ms=fast[2] * 1e3,
                   fast_cpu_min_ms=fast[3] * 1e3,
                   stages_ms=dict(envelope=st_env * 1e3, hair_cell=st_rates * 1e3, bushy=st_spikes * 1e3),
                   exact_wall_ms=exact[0] * 1e3, exact_cpu_ms=exact[2] * 1e3, ratio=exact[0] / fast[0], **agree)
        rows.append(row)
        print(f"\n{name}: {agree['spikes_fast']} spikes (fast), {agree['spikes_exact']} (exact)")
        print(f"  fast : {row['fast_wall_ms']:6.1f} ms/utt wall (median; min {row['fast_min_ms']:.1f}), "
              f"{row['fast_cpu_ms']:.1f} ms CPU (min {row['fast_cpu_min_ms']:.1f}); envelope {st_env * 1e3:.1f} + hair cell {st_rates * 1e3:.1f} "
              f"+ bushy cells {st_spikes * 1e3:.1f} ms")
        print(f"  exact: {row['exact_wall_ms']:6.1f} ms/utt wall, {row['exact_cpu_ms']:.1f} ms CPU; "
              f"exact / fast = {row['ratio']:.1f}x")
        print(f"  agreement: envelope corr (dB) {agree['envelope_corr_db']:.3f}, median |diff| "
              f"{agree['envelope_median_abs_db']:.2f} dB (p90 {agree['envelope_p90_abs_db']:.2f}), rate corr "
              f"{agree['rate_corr']:.3f}, expected-count profile corr {agree['profile_corr']:.4f}, "
              f"spike-count profile corr {agree['spike_profile_corr']:.3f}")
    med = statistics.median(r["fast_wall_ms"] for r in rows)
    cpu = statistics.median(r["fast_cpu_ms"] for r in rows)
    print(f"\nfast mode, median over signals: {med:.1f} ms wall, {cpu:.1f} ms CPU per 1 s utterance on one core "
          f"(goal <= 20 ms); exact / fast = {statistics.median(r['ratio'] for r in rows):.0f}x; "
          f"load average {os.getloadavg()[0]:.1f} (other jobs on the machine inflate the wall times)")
    if args.json:
        args.json.write_text(json.dumps(dict(design_s=design, rows=rows), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
