"""pr-v2 onto Loihi 2: the hard-sigmoid float network, and the integer network against it."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.fold.pr_v2_loihi2 import _run_hard, fold_pr_v2_loihi2, hard_gate_logits
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.quant.loihi2_emulator import emulate_loihi2, graded_logits


def _net(seed=0, zero_forget=False):
    torch.manual_seed(seed)
    cfg = NetworkConfig(input_size=10, hidden=(12, 8), n_classes=3, neuron="pr-v2", readout="li", batch_norm=True)
    net = build_network(cfg)
    x = _frames(32, seed=5)
    net.train()
    with torch.no_grad():
        net(x)                              # the quantisers' ranges and the batch norms' statistics
        for layer in net.layers:
            layer.synapse.weight.mul_(3.0)
            if zero_forget:
                c = layer.neuron.size
                layer.synapse.weight[:c].zero_()
                layer.neuron.recurrent.weight[:c].zero_()
                layer.neuron.norm.bias[:c].zero_()
                layer.neuron.norm.running_mean[:c].zero_()
    return net.eval()


def _frames(n=16, t=25, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, t, 10, generator=g) < 0.3).float()


@torch.no_grad()
def test_hard_gates_equal_the_sigmoid_where_the_forget_gate_is_one_half():
    net = _net(zero_forget=True)             # forget pre-activation 0: sigmoid(0) = hardsigmoid(0) = 1/2
    x = _frames()
    assert torch.equal(hard_gate_logits(net, x), net(x))
    moving = _net()
    assert not torch.allclose(hard_gate_logits(moving, x), moving(x))


@torch.no_grad()
def test_the_integer_network_follows_the_hard_gate_network():
    net = _net()
    x = _frames(n=24, seed=2)
    graded, report = fold_pr_v2_loihi2(net, _frames(n=64, seed=3))
    assert report["graded"] and report["target"] == "loihi2"
    assert [l.bits for l in graded.hidden] == [6, 6]
    payloads, volt, overflow, _ = emulate_loihi2(graded, x.to(torch.uint8))
    assert sum(overflow.values()) == 0
    y_float = _run_hard(net, x) * float(net.layers[-1].neuron.params().scale)      # float levels of the last layer
    q = payloads["hidden1"].to(torch.float32)
    same = (q == y_float.round()).float().mean(dim=(0, 2))
    # step 0 exactly; then a level boundary crossed one step apart (8-bit weights, 12-bit gate) is
    # carried by the soft reset and the recurrence, so the traces drift apart over time (measured)
    assert float(same[0]) == 1.0 and float(same[:3].mean()) > 0.95
    assert float((q != 0).float().mean()) > 0.1                       # the layer does emit
    agree = graded_logits(graded, volt).argmax(1) == hard_gate_logits(net, x).argmax(1)
    assert float(agree.float().mean()) >= 0.9


def test_only_pr_v2_networks_fold_this_way():
    cfg = NetworkConfig(input_size=10, hidden=(4,), n_classes=3, neuron="lif", readout="li")
    with pytest.raises(ConfigError, match="pr-v2"):
        fold_pr_v2_loihi2(build_network(cfg), _frames())
