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


def test_gate_variance_by_hand_and_its_annealed_weight():
    from spikedeploy.models.neurons.gpn import gate_variance
    from spikedeploy.training.config import TrainConfig

    g = torch.zeros(2, 4, 1, 2)                  # [T, gates, B, C]
    g[0, 0, 0, 0], g[1, 0, 0, 0] = 0.2, 0.6      # one gate of one neuron moves: variance 0.04
    assert float(gate_variance(g)) == pytest.approx(0.04 / 8)      # the mean over 4 gates x 2 neurons
    cfg = TrainConfig(epochs=5, gate_variance_reg=2.0)
    assert [cfg.gate_variance_weight(e) for e in range(1, 6)] == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_the_fold_aware_penalty_lowers_the_gates_variance():
    from spikedeploy.models import NetworkConfig, build_network
    from spikedeploy.training.config import TrainConfig
    from spikedeploy.training.loop import TensorData, fit
    from spikedeploy.training.losses import gate_variance_penalty, track_gates

    cfg = NetworkConfig(input_size=10, hidden=(12,), n_classes=3, neuron="gpn", readout="mean-linear",
                        synapse_bias=True)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.rand(64, 20, 10, generator=g) < 0.3).float(), torch.randint(0, 3, (64,), generator=g)
    variance = {}
    for reg in (0.0, 30.0):
        torch.manual_seed(0)
        net = build_network(cfg)
        res = fit(net, TensorData(x, y), TensorData(x, y), TrainConfig(epochs=6, batch_size=16, lr=1e-2,
                                                                        gate_variance_reg=reg), progress=False)
        assert net.layers[0].neuron.track_gates is False             # switched off after training
        net.load_state_dict(res.best_state)
        track_gates(net.eval(), True)
        net(x)
        variance[reg] = float(gate_variance_penalty(net))
    assert variance[30.0] < 0.5 * variance[0.0]
