"""The exact-integer helpers under every metric."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.metrics._arrays import (as_sequence, as_tensor, count_true, events_per_neuron, exact_matvec,
                                         shift_one_step, unit_valued)


def test_exact_matvec_switches_to_float64_past_2_24():
    mask = torch.tensor([[True, True], [False, True]])
    counts = torch.tensor([2 ** 24, 1])
    assert exact_matvec(mask, counts).tolist() == [2 ** 24 + 1, 1]   # float32 would say 2^24


def test_events_per_neuron_is_the_binarised_product():
    x = torch.tensor([[[0.5, 0.0, -2.0]]])
    w = torch.tensor([[1.0, 1.0, 0.0], [3.0, 0.0, 2.0]])
    assert events_per_neuron(x != 0, w != 0).tolist() == [[[1, 2]]]


def test_unit_values_and_shift():
    t = torch.tensor([[[1.0, -1.0, 0.0], [1.0, 2.0, 0.0]]])
    assert unit_valued(t).tolist() == [[True, False]]
    assert shift_one_step(torch.tensor([[[1], [2], [3]]])).tolist() == [[[0], [1], [2]]]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_are_refused(bad):
    a = np.zeros((2, 3, 4), dtype=np.float32)
    a[1, 2, 3] = bad
    with pytest.raises(ConfigError):
        as_tensor(a, "x")
    assert as_tensor(np.zeros((0, 3, 4), dtype=np.float32), "empty").shape == (0, 3, 4)


def test_empty_runs_are_refused():
    with pytest.raises(ShapeMismatchError):
        as_sequence(torch.zeros(0, 5, 3), "spikes")
    with pytest.raises(ShapeMismatchError):
        as_sequence(torch.zeros(2, 0, 3), "spikes")


def test_count_true_both_paths():
    m = torch.rand(3, 4, 5) < 0.5
    assert count_true(m, keep=0).tolist() == [int(v) for v in m.sum(dim=(1, 2))]
    assert count_true(m, keep=2).tolist() == [int(v) for v in m.sum(dim=(0, 1))]
    big = torch.ones(1, 2 ** 12, 2 ** 12 + 1, dtype=torch.bool)       # 2^24 + 2^12 per sample
    assert count_true(big, keep=0).tolist() == [2 ** 24 + 2 ** 12]
