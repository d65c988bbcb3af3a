"""Non-spiking baselines: a GRU or LSTM of the same width, trained on the same binned frames.

They answer "what would a conventional recurrent network of this size reach, and what
would it cost": Ponghiran & Roy's claim that their improved-recurrence SNN reaches
LSTM-level accuracy with over 10x fewer multiplications than a GRU is checked against
them (:mod:`spikedeploy.metrics.source_ops` counts both).

One recurrent layer of ``hidden`` units read out from its last state by a Linear layer;
Adam (lr 1e-3), batch 64, cross-entropy; the best epoch by a seeded 10 % validation split
of the training set; the test accuracy of that epoch's weights.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ConfigError

CELLS = ("gru", "lstm")


class RNNClassifier(nn.Module):
    """``x [B, T, n_in] -> logits [B, n_classes]`` from the last hidden state."""

    def __init__(self, cell: str, n_in: int, hidden: int, n_classes: int):
        super().__init__()
        if cell not in CELLS:
            raise ConfigError("baseline cell", f"unknown cell {cell!r}", valid=CELLS)
        self.cell = cell
        self.rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell](n_in, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        return self.out(h[:, -1])


@dataclass(frozen=True)
class BaselineResult:
    cell: str
    hidden: int
    epochs: int
    best_epoch: int
    best_val_acc: float
    test_acc: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    model.eval()
    pred = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
    return float((pred == y).float().mean())


def train_baseline(cell: str, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *,
                   hidden: int, n_classes: int, epochs: int, seed: int = 0,
                   log: Callable[[str], None] | None = None) -> BaselineResult:
    """Train one baseline (module docstring) on ``train`` = (x [N, T, in] float, y [N] long)."""
    if epochs < 1:
        raise ConfigError("baseline epochs", f"must be >= 1, got {epochs}")
    torch.manual_seed(seed)
    x, y = train
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val, tr = perm[:len(x) // 10], perm[len(x) // 10:]
    model = RNNClassifier(cell, x.shape[-1], hidden, n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    best, best_epoch, best_state, t0 = -1.0, 0, None, time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order = tr[torch.randperm(len(tr), generator=torch.Generator().manual_seed(seed + epoch))]
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = accuracy(model, x[val], y[val])
        if acc > best:
            best, best_epoch, best_state = acc, epoch, copy.deepcopy(model.state_dict())
        if log:
            log(f"{cell} epoch {epoch}/{epochs}: validation {100 * acc:.2f} %")
    model.load_state_dict(best_state)
    return BaselineResult(cell, hidden, epochs, best_epoch, best, accuracy(model, *test), time.perf_counter() - t0)
