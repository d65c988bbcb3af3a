"""The baselines stage: a GRU and an LSTM of the models' width, trained on the same frames.

:func:`baselines` trains each cell of :class:`BaselineSettings` with
:func:`spikedeploy.training.baselines.train_baseline` on ``DIR/train.h5`` binned as the
models are, tests it on ``DIR/test.h5``, counts its multiplications per inference
(:func:`spikedeploy.metrics.source_ops.recurrent_baseline_ops`) and writes both to a JSON
file. The pipeline runs it after training; the comparison reports show the baselines'
accuracy beside their multiplications (Ponghiran & Roy's claim, docs/energy.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ..atomic import atomic_path, check_outputs
from ..data.shd import BinningConfig, ShdDataset
from ..errors import ConfigError
from ..metrics.source_ops import recurrent_baseline_ops
from ..training.baselines import CELLS, train_baseline


@dataclass(frozen=True)
class BaselineSettings:
    """The pipeline's ``[baselines]`` table: ``cells`` (empty: no baselines), ``epochs`` and
    ``hidden`` (None: the longest model training, the first model's first hidden width)."""

    cells: tuple[str, ...] = CELLS
    epochs: int | None = None
    hidden: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        for c in self.cells:
            if c not in CELLS:
                raise ConfigError("baselines.cells", f"unknown cell {c!r}", valid=CELLS)
        for name in ("epochs", "hidden"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ConfigError(f"baselines.{name}", f"must be a positive integer, got {v!r}")


@dataclass(frozen=True)
class BaselineOptions:
    data_dir: Path
    binning: BinningConfig
    hidden: int
    epochs: int
    cells: tuple[str, ...] = CELLS
    seed: int = 0
    out: Path | None = None


def baselines(options: BaselineOptions, log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Train and count every cell (module docstring); write ``options.out`` when given."""
    check_outputs({"baselines (JSON)": options.out}, {"training data": Path(options.data_dir) / "train.h5"})
    load = lambda split: ShdDataset(Path(options.data_dir) / f"{split}.h5", options.binning,  # noqa: E731
                                    progress=False).tensors()[:2]
    (xtr, ytr), (xte, yte) = load("train"), load("test")
    train = (torch.as_tensor(xtr).float(), torch.as_tensor(ytr).long())
    test = (torch.as_tensor(xte).float(), torch.as_tensor(yte).long())
    n_classes = int(max(int(train[1].max()), int(test[1].max())) + 1)
    out: dict[str, dict[str, Any]] = {}
    for cell in options.cells:
        res = train_baseline(cell, train, test, hidden=options.hidden, n_classes=n_classes, epochs=options.epochs,
                             seed=options.seed, log=log)
        ops = recurrent_baseline_ops(cell, train[0].shape[-1], options.hidden, n_classes, train[0].shape[1])
        out[cell] = {**res.to_dict(), "operations": ops.to_dict()}
    if options.out is not None:
        with atomic_path(options.out) as tmp:
            tmp.write_text(json.dumps(out, indent=1) + "\n")
    return out


def read_baselines(path: Path | None) -> Mapping[str, Mapping[str, Any]] | None:
    return None if path is None else json.loads(Path(path).read_text())
