"""Training settings (a frozen dataclass, stored in every checkpoint)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..config import dataclass_from_dict, dataclass_to_dict
from ..errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    epochs               maximum number of epochs
    batch_size           global batch size (split across processes under torchrun)
    lr                   Adam learning rate
    weight_decay         Adam weight decay (L2)
    lr_factor            ReduceLROnPlateau factor, on validation accuracy
    lr_patience          ReduceLROnPlateau patience (epochs)
    early_stop_patience  stop after this many epochs without a better validation accuracy
                         (0: never stop early)
    val_fraction         fraction of the training file held out (stratified) for validation
    seed                 seeds the weights, the split, the batch order, dropout and GPN resets
    activity_reg         weight of the spike-count penalty: loss += activity_reg *
                         sum over hidden layers of the mean spikes per neuron per step
    grad_clip            clip the gradient norm to this value (0: no clipping)
    gate_variance_reg    GPN: weight of the fold-aware penalty, the within-neuron variance of the gates
                         (a fold makes each gate a constant per neuron, so a gate that moves less folds
                         with less loss); annealed: 0 in the first epoch, rising linearly to the full
                         weight in the last (``gate_variance_weight``)
    noise_prob           GSC folders: the probability that a training clip is mixed with a segment of
                         ``_background_noise_`` (``data.gsc``; drawn once per clip with ``seed``: the
                         features are computed once, not per epoch)
    """

    epochs: int = 40
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.0
    lr_factor: float = 0.75
    lr_patience: int = 3
    early_stop_patience: int = 8
    val_fraction: float = 0.15
    seed: int = 0
    activity_reg: float = 0.0
    grad_clip: float = 0.0
    noise_prob: float = 0.0
    gate_variance_reg: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"training.{name}", f"must be a positive integer, got {v!r}")
        for name in ("lr_patience", "early_stop_patience", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"training.{name}", f"must be an integer >= 0, got {v!r}")

        def check(name: str, ok, wanted: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
                raise ConfigError(f"training.{name}", f"invalid value {v!r}: must be a finite number {wanted}",
                                  remedy=f"set {name} to a finite number {wanted} (e.g. the default "
                                         f"{getattr(type(self)(), name)!r})")
            object.__setattr__(self, name, float(v))

        check("lr", lambda v: v > 0, "> 0")
        check("weight_decay", lambda v: v >= 0, ">= 0")
        check("lr_factor", lambda v: 0 < v < 1, "between 0 and 1")
        check("val_fraction", lambda v: 0 < v < 1, "between 0 and 1")
        check("activity_reg", lambda v: v >= 0, ">= 0")
        check("grad_clip", lambda v: v >= 0, ">= 0")
        check("noise_prob", lambda v: 0 <= v <= 1, "between 0 and 1")
        check("gate_variance_reg", lambda v: v >= 0, ">= 0")

    def gate_variance_weight(self, epoch: int) -> float:
        """The annealed weight of the gate-variance penalty in ``epoch`` (1-based)."""
        if self.epochs <= 1:
            return self.gate_variance_reg
        return self.gate_variance_reg * (epoch - 1) / (self.epochs - 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        return dataclass_from_dict(cls, d, section="training")

    def replace(self, **changes: Any) -> "TrainConfig":
        return self.from_dict({**self.to_dict(), **changes})
