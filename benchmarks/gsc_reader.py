"""GSC reader throughput: wav -> 3 x 101 x 40 log-Mel features (+ deltas) per second.

The real Google Speech Commands cannot be downloaded here, so the benchmark builds a folder
in its real layout (one folder per word, ``validation_list.txt``, ``testing_list.txt``,
``_background_noise_``) from espeak-ng: ``--words`` words x ``--clips`` clips each, 16 kHz
16-bit mono, 1 s or shorter (padded), spoken with several voices and speeds. It then times,
side by side in one run:

- ``read``: the wav read + pad/crop alone (the floor of any feature pipeline);
- ``features``: ``GscDataset[i]`` (read + log-Mel + deltas), noise mixing off and on;
- ``loader``: a torch DataLoader over the train split, ``num_workers`` 0 and 2, batch 64.

and reports clips/s, ms per clip and the ratio to real time (1 s of audio per clip).

Run: .venv/bin/python benchmarks/gsc_reader.py [--words 10 --clips 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero", "one")
VOICES = (("en", "m1"), ("en", "f2"), ("en-us", "m3"), ("en", "f4"), ("en-us", "klatt2"))


def build_folder(root: Path, n_words: int, n_clips: int, seed: int) -> Path:
    from math import gcd

    from scipy.signal import resample_poly

    from spikedeploy.data.espeak import speak
    from spikedeploy.data.wav import write_wav

    rng = np.random.default_rng(seed)
    val, test = [], []
    for word in WORDS[:n_words]:
        (root / word).mkdir(parents=True)
        for j in range(n_clips):
            voice, variant = VOICES[j % len(VOICES)]
            x, rate = speak(word, voice=voice, variant=variant, speed=int(rng.integers(130, 220)),
                            pitch=int(rng.integers(30, 70)))
            g = gcd(int(rate), 16000)
            x = resample_poly(x.astype(np.float64), 16000 // g, int(rate) // g)[:16000]
            name = f"{j:08x}_nohash_{j % 3}.wav"
            write_wav(root / word / name, x, 16000)
            (val if j % 10 == 8 else test if j % 10 == 9 else []).append(f"{word}/{name}")
    (root / "_background_noise_").mkdir()
    write_wav(root / "_background_noise_" / "white_noise.wav", rng.uniform(-0.3, 0.3, 10 * 16000), 16000)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


def per_item(ds, fn, repeats: int) -> float:
    """Best (over ``repeats``) seconds per item of ``fn(ds, i)`` over the whole split."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(len(ds)):
            fn(ds, i)
        best = min(best, (time.perf_counter() - t0) / len(ds))
    return best


def loader_rate(ds, workers: int, repeats: int) -> float:
    import torch
    from torch.utils.data import DataLoader

    best = 0.0
    for _ in range(repeats):
        loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers,
                            generator=torch.Generator().manual_seed(0))
        t0 = time.perf_counter()
        n = sum(int(x.shape[0]) for x, _ in loader)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=10)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from spikedeploy.data.gsc import GscDataset

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="gsc-bench.") as tmp:
        t0 = time.perf_counter()
        root = build_folder(Path(tmp) / "speech_commands", args.words, args.clips, args.seed)
        print(f"built {args.words} x {args.clips} clips with espeak-ng in {time.perf_counter() - t0:.1f} s")
        train = GscDataset(root, "train")
        noisy = GscDataset(root, "train", noise_prob=1.0)
        x, _ = train[0]
        print(f"train split: {len(train)} clips, features {tuple(x.shape)} {x.dtype}")
        rows = [("read + pad (wav only)", per_item(train, lambda d, i: d.waveform(i), args.repeats)),
                ("features (log-Mel + deltas)", per_item(train, lambda d, i: d[i], args.repeats)),
                ("features + background noise", per_item(noisy, lambda d, i: d[i], args.repeats))]
        print("\n| step | ms per clip | clips/s (= x real time: 1 s clips) |")
        print("|---|---|---|")
        for name, s in rows:
            print(f"| {name} | {1e3 * s:.2f} | {1 / s:,.0f} |")
        for workers in (0, 2):
            r = loader_rate(train, workers, args.repeats)
            print(f"| DataLoader, batch 64, {workers} workers | {1e3 / r:.2f} | {r:,.0f} |")
        feat = rows[1][1] / rows[0][1]
        print(f"\nfeatures cost {feat:.1f}x the wav read alone; noise mixing adds "
              f"{100 * (rows[2][1] / rows[1][1] - 1):+.0f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
