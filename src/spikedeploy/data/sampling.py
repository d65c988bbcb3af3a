"""Choosing and binning the samples a stage runs on: class-stratified draws, calibration
sets from a data folder, binary frames for Loihi's input.

- :func:`stratified_indices`: ``n`` sample indices spread evenly over the classes (seeded);
- :func:`choose_samples`: all indices, or that many stratified ones;
- :func:`calibration_set`: stratified samples of ``DIR/train.h5`` binned as a model was
  trained (what the quantiser calibrates on);
- :func:`binary_frames`: samples binned and clipped to 0/1 (Loihi's input spikes are binary);
- :func:`data_file`: a data file, or ``FOLDER/test.h5`` for a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataFormatError, ShapeMismatchError
from .shd import BinningConfig, ShdDataset, SpikeSet, load_spikes


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` sample indices spread evenly over the classes (seeded), in class-interleaved order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(labels.size)
    rank = np.empty(labels.size, dtype=np.int64)
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        rank[members] = np.arange(members.size)
    order = perm[np.lexsort((labels[perm], rank[perm]))]
    return np.sort(order[:min(n, labels.size)])


def choose_samples(labels: np.ndarray, samples: int | None) -> np.ndarray:
    """All sample indices, or ``samples`` of them spread evenly over the classes
    (seeded, sorted; :func:`stratified_indices`)."""
    n = int(labels.shape[0])
    if samples is None or samples >= n:
        return np.arange(n, dtype=np.int64)
    if isinstance(samples, bool) or int(samples) < 1:
        raise ConfigError("samples", f"must be a positive integer, got {samples!r}")
    return stratified_indices(labels, int(samples), seed=0).astype(np.int64)


def calibration_set(data_dir: str | Path, binning: BinningConfig | None, input_size: int, n: int, seed: int = 0,
                    split: str = "train") -> tuple[torch.Tensor, torch.Tensor, BinningConfig, dict[str, Any]]:
    """``(x [n, T, F] float32, y [n] int64, binning, info)``: ``n`` stratified samples of
    ``data_dir/<split>.h5`` binned with ``binning`` (None: the defaults, with the pooling
    that gives ``input_size`` features)."""
    path = Path(data_dir) / f"{split}.h5"
    if not path.is_file():
        raise DataFormatError(path, f"no {split}.h5 to calibrate on",
                              remedy="pass --data DIR with DIR/train.h5 in the SHD format, or build the default "
                                     "data set with `spikedeploy data synth-digits` (see `spikedeploy data where`)")
    spikes = load_spikes(path)
    assumed = binning is None
    if binning is None:
        pool = spikes.n_channels // input_size if input_size and spikes.n_channels % input_size == 0 else 1
        binning = BinningConfig(pool=max(pool, 1), n_channels=spikes.n_channels)
    else:
        binning = binning.replace(n_channels=spikes.n_channels) if spikes.n_channels % binning.pool == 0 else binning
    if spikes.n_channels % binning.pool or binning.n_features != input_size:
        raise ShapeMismatchError(f"features per frame of {path} ({spikes.n_channels} channels / pool {binning.pool})",
                                 input_size, spikes.n_channels // max(binning.pool, 1),
                                 remedy="calibrate on data of the kind the model was trained on")
    idx = stratified_indices(spikes.labels, n, seed)
    ds = ShdDataset(spikes, binning, indices=idx, progress=False)
    x, y = ds.tensors()
    info = {"data_dir": str(Path(data_dir)), "file": path.name, "n_samples": int(len(idx)), "seed": int(seed),
            "binning": binning.to_dict(), "binning_assumed": assumed}
    return x, y, binning, info


def binary_frames(spikes: SpikeSet | str | Path, binning: BinningConfig,
                  indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(x uint8 [N, T, F] binary, labels int64 [N], clipped)``: counts > 1 are clipped to 1
    (Loihi's input spikes are binary); ``clipped`` counts them."""
    ds = ShdDataset(spikes, binning, indices=indices, progress=False)
    x, y = ds.tensors()
    x = x.numpy()
    clipped = int((x > 1).sum())
    return (x > 0).astype(np.uint8), y.numpy().astype(np.int64), clipped


def data_file(path: str | Path, name: str = "test.h5") -> Path:
    """``path`` itself, or ``path/<name>`` for a folder."""
    path = Path(path)
    if path.is_dir():
        inner = path / name
        if not inner.is_file():
            raise DataFormatError(path, f"is a folder without {name}",
                                  remedy=f"pass the SHD-format file itself (e.g. DIR/{name})")
        return inner
    return path
