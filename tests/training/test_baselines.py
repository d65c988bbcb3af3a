"""The GRU / LSTM baselines: they learn a task a recurrent network must remember, and refuse
what they cannot be."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.stages.baselines import BaselineSettings
from spikedeploy.training.baselines import RNNClassifier, train_baseline


def _task(n: int, seed: int):
    """The class is the channel that fired at step 0; the last steps are silent, so the network
    must carry it through time."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.zeros(n, 4, 3)
    x[torch.arange(n), 0, y] = 1.0
    return x, y


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_baseline_remembers_the_first_step(cell):
    torch.set_num_threads(1)
    res = train_baseline(cell, _task(1000, 0), _task(100, 1), hidden=16, n_classes=3, epochs=20)
    assert res.test_acc == 1.0 and res.best_val_acc == 1.0 and 1 <= res.best_epoch <= 20


def test_unknown_cells_and_sizes_are_refused():
    with pytest.raises(ConfigError, match="unknown cell 'rnn'"):
        RNNClassifier("rnn", 3, 4, 2)
    with pytest.raises(ConfigError, match="unknown cell"):
        BaselineSettings(cells=("gru", "transformer"))
    with pytest.raises(ConfigError, match="baselines.epochs"):
        BaselineSettings(epochs=0)
    assert BaselineSettings(cells=[]).cells == ()
