"""A Google Speech Commands folder as training data (``spikedeploy train --data GSC_DIR``).

:func:`load_gsc_split` reads the three splits with :class:`~spikedeploy.data.gsc.GscDataset`
(s2net's features: 40 log-Mel bands with deltas, ``[3, 101, 40]`` per second) and gives
them as frames ``[N, 101, 3 x 40]`` with labels (channels x bands flattened,
channel-major, as :class:`~spikedeploy.models.conv.ConvSpikingNetwork` reads them). The
validation split is GSC's ``validation_list.txt``; when it is empty, a stratified share of
the training split. A model config with ``words`` reads the 12-class task (those words,
unknown, silence: :class:`~spikedeploy.data.gsc.GscDataset`). A folder is a GSC folder when
it holds ``testing_list.txt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.gsc import GscDataset
from ..data.sampling import choose_samples, stratified_indices
from ..data.shd import stratified_split
from ..errors import ShapeMismatchError


#: Frames per 1 s clip (10 ms hop, centred frames).
GSC_FRAMES = 101


def _frames(ds: GscDataset, indices: Any) -> torch.Tensor:
    """Items ``indices`` of ``ds`` as frames ``[n, 101, 3 x 40]`` (channels x bands, channel-major)."""
    if len(indices) == 0:
        return torch.zeros(0, GSC_FRAMES, 120)
    x = torch.stack([ds[int(i)][0] for i in indices])                    # [N, C, T, F]
    return x.permute(0, 2, 1, 3).flatten(2).contiguous()


def _features(ds: GscDataset) -> tuple[torch.Tensor, torch.Tensor]:
    return _frames(ds, range(len(ds))), torch.as_tensor(ds.labels, dtype=torch.long)


Split = tuple[torch.Tensor, torch.Tensor]


def load_gsc_split(data_dir: str | Path, network: Any, val_fraction: float, seed: int, noise_prob: float = 0.0
                   ) -> tuple[Split, Split, Split, dict[str, Any]]:
    """(train, val, test) as (frames, labels) and what was read (module docstring). ``noise_prob``:
    training clips mixed with background noise, drawn once per clip from a generator seeded by ``seed``."""
    data_dir = Path(data_dir)
    words = tuple(getattr(network, "words", ()))
    splits = {s: GscDataset(data_dir, s, words=words, noise_prob=noise_prob if s == "train" else 0.0)
              for s in ("train", "validation", "testing")}
    classes = splits["train"].classes
    with torch.random.fork_rng():
        torch.manual_seed(seed)                  # the noise draws (GscDataset uses torch's generator)
        (xtr, ytr), (xva, yva), (xte, yte) = (_features(splits[s]) for s in ("train", "validation", "testing"))
    if xtr.shape[-1] != network.input_size:
        raise ShapeMismatchError(f"features per frame of {data_dir} (3 channels x 40 bands)", network.input_size,
                                 int(xtr.shape[-1]), remedy="use a model with in_channels = 3 and bands = 40 "
                                                            "(the s2net-gsc presets)")
    if len(classes) != network.n_classes:
        raise ShapeMismatchError(f"classes of {data_dir}", network.n_classes, len(classes),
                                 remedy=f"set the model's n_classes to {len(classes)} ([model] n_classes in a "
                                        "TOML config)")
    if len(yva) == 0:
        tr_idx, va_idx = stratified_split(ytr.numpy(), val_fraction, seed)
        tr, va = torch.from_numpy(np.asarray(tr_idx)), torch.from_numpy(np.asarray(va_idx))
        xtr, ytr, xva, yva = xtr[tr], ytr[tr], xtr[va], ytr[va]
    info = {"data_dir": str(data_dir), "features": "gsc log-Mel + deltas [3, 101, 40]", "noise_prob": noise_prob,
            "n_train": len(ytr),
            "n_val": len(yva), "n_test": len(yte), "keys": list(classes)}
    return (xtr, ytr), (xva, yva), (xte, yte), info


def gsc_sample_count(data_dir: str | Path) -> int:
    """Utterances in the word folders (the training-memory check's sample count)."""
    root = Path(data_dir)
    return sum(1 for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
               for _ in p.glob("*.wav"))


def gsc_samples(data_dir: str | Path, split: str, words: tuple[str, ...], n: int | None, *, seed: int | None = None,
                indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frames [n, 101, 3 x 40] float32, labels [n], indices)`` of ``n`` items of one split (all
    when None), spread evenly over the classes with ``seed`` (default: as ``lava-run --samples``
    chooses SHD samples); or the items ``indices``."""
    ds = GscDataset(data_dir, split, words=tuple(words))
    if indices is not None:
        idx = np.asarray(indices, dtype=np.int64)
    else:
        idx = np.arange(len(ds)) if n is None else (stratified_indices(ds.labels, n, seed) if seed is not None
                                                    else choose_samples(ds.labels, n))
    return _frames(ds, idx).numpy(), ds.labels[idx], np.asarray(idx)
