"""s2net dense layer: hand-computed traces with and without lateral connections."""

import pytest
import torch
from torch import nn

from spikedeploy.errors import ConfigError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.models.neurons.s2net import S2NetLIF
from spikedeploy.models.surrogate import Sigmoid

# W rows (receptive fields): w_0 = [1, 0], w_1 = [.5, .5]; ||w||^2 = [1, .5];
# D = W W^T = [[1, .5], [.5, .5]]; beta = .5; b = [1, 1] (fires when v > b ||w||^2).
W = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
INPUT = torch.tensor([[3.0, 0.0], [0.0, 0.0], [0.0, 2.0], [0.0, 0.0]])  # in_t, 4 steps


def run(lateral, reset="subtract"):
    syn = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        syn.weight.copy_(W)
    pop = S2NetLIF(2, Sigmoid(), lateral=lateral, beta=0.5, b=1.0, reset=reset)
    pop.bind_synapse(syn)
    st = pop.initial_state(1)
    s_tr, v_tr = [], []
    for x_in in INPUT:
        s, st = pop.step(syn(x_in.view(1, 2)), st)
        s_tr.append(s[0].tolist())
        v_tr.append(st.v[0].tolist())
    return s_tr, v_tr


def test_lateral_trace_by_hand():
    # t0: x = W in = [3, 1.5]; v = .5 x = [1.5, .75]; v/norm - b = [.5, .5] -> both fire
    # t1: rst = [1, 1] D = [1.5, 1.0]; v = ([1.5, .75] - [1.5, 1.0]) * .5 = [0, -.125]
    # t2: x = [0, 1]; v = [0, -.125] * .5 + [0, 1] * .5 = [0, .4375]; .4375/.5 - 1 < 0
    # t3: v = [0, .21875]
    s, v = run(lateral=True)
    assert s == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert v == [[1.5, 0.75], [0.0, -0.125], [0.0, 0.4375], [0.0, 0.21875]]


def test_without_lateral_connections_the_reset_is_own_threshold():
    # rst = s * b * ||w||^2 = [1, .5] at t1: v = ([1.5, .75] - [1, .5]) * .5 = [.25, .125]
    # t2: v = [.25, .125] * .5 + [0, .5] = [.125, .5625]; .5625 / .5 - 1 = .125 > 0 -> neuron 1 fires
    # t3: rst = [0, .5]; v = ([.125, .5625] - [0, .5]) * .5 = [.0625, .03125]
    s, v = run(lateral=False)
    assert s == [[1.0, 1.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert v == [[1.5, 0.75], [0.25, 0.125], [0.125, 0.5625], [0.0625, 0.03125]]


def test_reset_to_zero_keeps_the_lateral_terms():
    # t0 as above: v = [1.5, .75], both fire
    # t1: v_prev = [0, 0] (reset to zero); lateral: rst = s @ (D - diag D) = [.5, .5]
    #     v = ([0, 0] - [.5, .5]) * .5 = [-.25, -.25]
    # t2: v = [-.25, -.25] * .5 + [0, 1] * .5 = [-.125, .375]; .375 / .5 - 1 < 0
    # t3: v = [-.0625, .1875]
    s, v = run(lateral=True, reset="zero")
    assert s == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    assert v == [[1.5, 0.75], [-0.25, -0.25], [-0.125, 0.375], [-0.0625, 0.1875]]
    # without lateral connections it is a plain LIF neuron with reset to zero
    s, v = run(lateral=False, reset="zero")
    assert v[1] == [0.0, 0.0] and v[2] == [0.0, 0.5]
    with pytest.raises(ConfigError, match="s2net_reset"):
        S2NetLIF(2, Sigmoid(), reset="halve")
    with pytest.raises(ConfigError, match="s2net_reset"):
        NetworkConfig(neuron="s2net", s2net_reset="halve")


def test_in_a_network_the_synapse_is_shared_not_copied():
    torch.manual_seed(0)
    net = build_network(NetworkConfig(input_size=6, hidden=(5, 4), n_classes=3, neuron="s2net",
                                      surrogate="sigmoid", weight_gain=3.0))
    layer = net.layers[0]
    assert not any("_synapse" in k for k in net.state_dict())
    assert set(k for k in net.state_dict() if k.startswith("layers.0.")) == \
        {"layers.0.synapse.weight", "layers.0.neuron.beta", "layers.0.neuron.b"}
    d = layer.neuron_params()["d"]
    assert torch.allclose(d, layer.synapse.weight @ layer.synapse.weight.t())
    # D follows the weight as it trains: the gradient of the loss reaches W through D too.
    x = (torch.rand(2, 15, 6) < 0.5).float()
    net(x).sum().backward()
    assert layer.synapse.weight.grad.abs().sum() > 0 and layer.neuron.beta.grad is not None
    net.eval()
    assert torch.allclose(net(x), net.forward_steps(x), atol=1e-5)


def test_constrain_keeps_beta_and_b_in_range():
    net = build_network(NetworkConfig(input_size=4, hidden=(3,), n_classes=2, neuron="s2net"))
    pop = net.layers[0].neuron
    with torch.no_grad():
        pop.beta.fill_(1.3)
        pop.b.copy_(torch.tensor([-0.5, 0.2, 2.0]))
    net.constrain_()
    assert pop.beta.item() == 1.0 and pop.b.tolist() == pytest.approx([0.0, 0.2, 2.0])
    with pytest.raises(ConfigError):
        S2NetLIF(3, Sigmoid(), beta=1.5)
    with pytest.raises(ConfigError, match="no synapse"):
        S2NetLIF(3, Sigmoid()).params()
