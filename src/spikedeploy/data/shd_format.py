"""The Spiking Heidelberg Digits (SHD/SSC) HDF5 schema: names and the writer.

Layout (Cramer et al. 2020), one entry per sample:

    spikes/times   vlen float  spike times in seconds, sorted ascending
    spikes/units   vlen uint16 channel (0..699) of each spike
    labels         uint        class index
    extra/speaker  uint        speaker id
    extra/keys     bytes       class names, indexed by label
    extra/meta_info/...        optional per-speaker metadata
    attrs["n_channels"]        optional: the channel count when it is not 700

The writer is atomic: the file appears complete or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..atomic import atomic_path

N_CHANNELS = 700
#: Optional file attribute declaring the channel count when it is not 700.
N_CHANNELS_ATTR = "n_channels"
TIMES = "spikes/times"
UNITS = "spikes/units"
LABELS = "labels"
SPEAKER = "extra/speaker"
KEYS = "extra/keys"

#: SHD's label order: English digits 0-9, then German digits 0-9.
SHD_KEYS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun",
)


def write_shd(path: str | Path, times: Sequence[np.ndarray], units: Sequence[np.ndarray],
              labels: Sequence[int], speakers: Sequence[int], keys: Sequence[str] = SHD_KEYS,
              extra: Mapping[str, np.ndarray] | None = None,
              attrs: Mapping[str, str | int | float] | None = None) -> Path:
    """Write samples in the SHD schema to ``path`` atomically.

    ``extra`` adds per-sample arrays under ``extra/<name>``; ``attrs`` become file
    attributes (e.g. the generator's configuration as JSON).
    """
    import h5py

    n = len(labels)
    if not (len(times) == len(units) == len(speakers) == n):
        raise ValueError("times, units, labels and speakers must have one entry per sample")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            t_ds = f.create_dataset(TIMES, (n,), dtype=h5py.vlen_dtype(np.dtype("float32")))
            u_ds = f.create_dataset(UNITS, (n,), dtype=h5py.vlen_dtype(np.dtype("uint16")))
            for i, (t, u) in enumerate(zip(times, units)):
                t_ds[i] = np.asarray(t, dtype=np.float32)
                u_ds[i] = np.asarray(u, dtype=np.uint16)
            f.create_dataset(LABELS, data=np.asarray(labels, dtype=np.uint8 if n and max(labels) < 256 else np.uint32))
            f.create_dataset(SPEAKER, data=np.asarray(speakers, dtype=np.uint16))
            f.create_dataset(KEYS, data=np.array([k.encode() for k in keys]))
            for name, values in (extra or {}).items():
                f.create_dataset(f"extra/{name}", data=values)
            for name, value in (attrs or {}).items():
                f.attrs[name] = value
    return Path(path)
