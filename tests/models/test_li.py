"""Leaky-integrator readout neuron and the two readouts."""

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.models.neurons.li import LeakyIntegrator
from spikedeploy.models.readout import LIReadout, MeanLinearReadout


def test_li_trace_by_hand():
    # dv = .5, bias = .25, x = [1, 0, 0]: v = 1.25, .625 + .25 = .875, .4375 + .25 = .6875
    li = LeakyIntegrator(1, dv=0.5)
    li.set_neuron_params(bias=0.25)
    v, st = li(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1))
    assert v.flatten().tolist() == [1.25, 0.875, 0.6875]
    assert st.v.item() == 0.6875
    p = li.neuron_params()
    assert p["du"].item() == 1.0 and p["dv"].item() == 0.5 and p["bias"].item() == 0.25


def test_li_readout_max_and_last():
    r = LIReadout(2, 1, reduce="max", dv=0.5)
    with torch.no_grad():
        r.synapse.weight.copy_(torch.tensor([[1.0, -1.0]]))
    s = torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    # W s = 1, 0, -1, -1 -> v = 1, .5, -.75, -1.375
    assert r.trace(s).flatten().tolist() == [1.0, 0.5, -0.75, -1.375]
    assert r(s).item() == 1.0
    r.reduce = "last"
    assert r(s).item() == -1.375
    with pytest.raises(ConfigError):
        LIReadout(2, 1, reduce="mean")


def test_mean_linear_readout_is_mean_of_linear_outputs():
    torch.manual_seed(0)
    r = MeanLinearReadout(5, 3)
    lin = torch.nn.Linear(5, 3)
    with torch.no_grad():
        lin.weight.copy_(r.synapse.weight)
        lin.bias.copy_(r.bias)
    s = (torch.rand(4, 7, 5) < 0.3).float()
    assert torch.allclose(r(s), lin(s).mean(1), atol=1e-6)
    assert torch.allclose(r.trace(s).mean(1), r(s), atol=1e-6)
    p = r.neuron_params()
    assert p["dv"].abs().sum() == 0 and torch.equal(p["bias"], r.bias.detach())
