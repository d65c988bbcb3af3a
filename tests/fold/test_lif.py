"""The fold of what converted LIF / CUBA-LIF networks have and Loihi's neuron lacks."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.fold import fold_lif, fold_network, needs_fold
from spikedeploy.models.networks import NetworkConfig, build_network
from spikedeploy.models.to_spec import model_to_spec


def _one_neuron(**kw) -> torch.nn.Module:
    cfg = NetworkConfig(input_size=1, hidden=(1,), n_classes=1, readout="li", learn_decays=False, **kw)
    net = build_network(cfg).double().eval()
    with torch.no_grad():
        net.layers[0].synapse.weight.fill_(1.0)
    return net


def _voltages(net, xs):
    layer = net.layers[0]
    st = layer.neuron.initial_state(1, dtype=torch.float64)
    out = []
    for x in xs:
        _, st = layer.step(torch.tensor([[x]], dtype=torch.float64), st)
        out.append(float(st.v))
    return out


def test_subtract_reset_becomes_zero_reset_plus_the_expected_remainder():
    # dv = 0.5, vth = 1, input 1.5, 0, 0, 0: one spike at v = 1.5, so the remainder is known:
    # source v = 1.5, -0.25, -0.125, -0.0625; folded 1.5 -> 0, then R = 0.5 * 1.5 - 1 = -0.25, ...
    src = _one_neuron(neuron="lif", reset="subtract", dv_init=0.5)
    src.layers[0].neuron.set_neuron_params(vth=1.0, bias=0.0)
    xs = torch.tensor([1.5, 0.0, 0.0, 0.0], dtype=torch.float64).reshape(1, 4, 1)
    assert needs_fold(src) == ["reset 'subtract'"]
    folded, report = fold_lif(src, xs)
    assert folded.config.reset == "zero" and folded.config.recurrent
    assert float(folded.layers[0].recurrent.weight) == pytest.approx(-0.25)
    assert _voltages(src, [1.5, 0, 0, 0]) == pytest.approx([1.5, -0.25, -0.125, -0.0625])
    assert _voltages(folded.double(), [1.5, 0, 0, 0]) == pytest.approx([0.0, -0.25, -0.125, -0.0625])
    assert not report["exact"] and report["layers"][0]["spike_voltage"]["calibrated_neurons"] == 1
    model_to_spec(folded)                       # Loihi's form now


def test_constant_current_becomes_its_steady_state_voltage_bias():
    # du = 0.5, a synapse bias c = 1 and no input: the source's current rises 1, 1.5, 1.75, ... towards
    # c / du = 2; the folded neuron gets 2 on the voltage from the first step.
    src = _one_neuron(neuron="cuba-lif", synapse_bias=True, du_init=0.5, dv_init=0.5)
    src.layers[0].neuron.set_neuron_params(vth=100.0, bias=0.0)
    with torch.no_grad():
        src.layers[0].synapse.bias.fill_(1.0)
    folded, report = fold_network(src, None)
    assert report["kind"] == "cuba-lif" and report["layers"][0]["bias_moved"] == 1
    assert float(folded.layers[0].neuron.neuron_params()["bias"]) == pytest.approx(2.0)
    src_v = _voltages(src, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    fold_v = _voltages(folded.double(), [0] * 20)
    assert src_v[0] == pytest.approx(1.0) and fold_v[0] == pytest.approx(2.0)
    # both settle where v = u / dv = 4; only the rise of the current is missing from the fold
    assert src_v[-1] == pytest.approx(4.0, rel=1e-3) and fold_v[-1] == pytest.approx(4.0, rel=1e-3)
    model_to_spec(folded)


def test_a_loihi_ready_network_needs_no_fold():
    net = _one_neuron(neuron="lif", synapse_bias=True)          # du = 1: the synapse bias is exact as it is
    assert needs_fold(net) == []
    with pytest.raises(ConfigError, match="needs no fold"):
        fold_lif(net)


def test_the_remainder_that_agrees_most_with_the_source_is_kept():
    torch.manual_seed(0)
    cfg = NetworkConfig(input_size=12, hidden=(10,), n_classes=4, neuron="lif", reset="subtract", readout="mean-linear",
                        learn_decays=False, dv_init=0.2)
    net = build_network(cfg).eval()
    with torch.no_grad():
        net.layers[0].synapse.weight.mul_(6.0)
    x = (torch.rand(40, 25, 12, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    folded, report = fold_lif(net, x)
    agreement = report["remainder"]["agreement"]
    assert set(agreement) == {"mean", "clipped", "none"} and report["remainder"]["chosen"] == max(agreement,
                                                                                                 key=agreement.get)
    same = float((folded(x).argmax(1) == net(x).argmax(1)).float().mean())
    assert same == pytest.approx(max(agreement.values()))
