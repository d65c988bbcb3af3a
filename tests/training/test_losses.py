"""Per-sample losses and the spike-count penalty, against hand-computed values."""

import math

import pytest
import torch

from spikedeploy.training.losses import cross_entropy_per_sample, sample_losses, spike_count_penalty


def test_spike_count_penalty_by_hand():
    # Layer 1: sample 0 fires 3 of 2x4 = 8 (neuron, step) slots, sample 1 none; layer 2: 1 of 6 and 6 of 6.
    s1 = torch.zeros(2, 2, 4)
    s1[0, 0, :3] = 1
    s2 = torch.zeros(2, 3, 2)
    s2[0, 1, 0] = 1
    s2[1] = 1
    assert spike_count_penalty([s1, s2]).tolist() == pytest.approx([3 / 8 + 1 / 6, 1.0])


def test_sample_losses_add_the_weighted_penalty():
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 1])
    ce = cross_entropy_per_sample(logits, y)
    assert ce.tolist() == pytest.approx([math.log(2), 2 + math.log(1 + math.exp(-2))])
    s = torch.ones(2, 3, 4) * torch.tensor([0.0, 1.0]).view(2, 1, 1)
    assert sample_losses(logits, y, [s], activity_reg=0.5).tolist() == pytest.approx((ce + torch.tensor([0.0, 0.5])).tolist())
    assert torch.equal(sample_losses(logits, y, [s]), ce)
