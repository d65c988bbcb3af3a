"""A small, learnable data set in the SHD format, for the training tests."""

from pathlib import Path

import numpy as np

from spikedeploy.data.shd_format import write_shd


def toy_samples(n: int, n_classes: int, channels: int, seed: int, duration: float = 0.5):
    """Class c fires a burst on channel band c at a class-dependent time, plus noise spikes."""
    rng = np.random.default_rng(seed)
    band = channels // n_classes
    times, units, labels = [], [], []
    for i in range(n):
        c = i % n_classes
        t0 = duration * (0.1 + 0.6 * c / max(n_classes - 1, 1))
        k = 40
        t_sig = np.clip(t0 + rng.normal(0, 0.02, k), 0, duration * 0.999)
        u_sig = rng.integers(c * band, (c + 1) * band, k)
        t_noise = rng.uniform(0, duration, 20)
        u_noise = rng.integers(0, channels, 20)
        t = np.concatenate([t_sig, t_noise])
        u = np.concatenate([u_sig, u_noise])
        order = np.argsort(t, kind="stable")
        times.append(t[order].astype(np.float32))
        units.append(u[order].astype(np.uint16))
        labels.append(c)
    return times, units, labels


def write_toy_dataset(folder: Path, *, n_train: int = 120, n_test: int = 40, n_classes: int = 4,
                      channels: int = 40, seed: int = 0) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keys = [f"class{c}" for c in range(n_classes)]
    for name, n, s in (("train", n_train, seed), ("test", n_test, seed + 1)):
        t, u, y = toy_samples(n, n_classes, channels, s)
        write_shd(folder / f"{name}.h5", t, u, y, speakers=[i % 3 for i in range(n)], keys=keys,
                  attrs={"n_channels": channels})
    return folder
