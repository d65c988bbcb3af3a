"""Trained network -> NetworkSpec (spikedeploy.models.to_spec)."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ConversionError
from spikedeploy.models import build_network, get_preset
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.models.to_spec import model_to_spec


def _model(preset: str, seed: int = 0, **changes):
    torch.manual_seed(seed)
    cfg = get_preset(preset).network.replace(input_size=30, n_classes=5, **{"hidden": [20, 12], **changes})
    m = build_network(cfg).eval()
    with torch.no_grad():  # non-trivial per-neuron values (a trained model's are never the init)
        for layer in m.layers:
            n = layer.neuron
            n.bias.uniform_(-0.05, 0.15)
            n.dv_raw.uniform_(-3, 0)
            n.vth_raw.uniform_(-0.5, 0.5)
            if getattr(n, "du_raw", None) is not None:
                n.du_raw.uniform_(-2, 1)
            layer.synapse.weight.mul_(2.5)
        if hasattr(m.readout, "neuron"):
            m.readout.neuron.bias.uniform_(-0.1, 0.1)
    return m


def _spikes(seed=1, n=6, T=40, f=30, p=0.2):
    return (torch.rand(n, T, f, generator=torch.Generator().manual_seed(seed)) < p).float()


@pytest.mark.parametrize("preset,recurrent", [("lif-shd", True), ("cuba-shd", True), ("lif-ff-shd", False),
                                              ("cuba-shd", False)])
def test_spec_network_of_the_spec_equals_the_models_forward(preset, recurrent):
    m = _model(preset, recurrent=recurrent)
    x = _spikes()
    spec = model_to_spec(m)
    logits, spikes = m(x, return_spikes=True)
    run = SpecNetwork(spec).run(x)
    # Same step functions, same float32 operations: bit for bit.
    assert torch.equal(run.logits, logits)
    for s_model, s_spec in zip(spikes, run.outputs[:-1]):
        assert torch.equal(s_model, s_spec)
    assert all(0.02 < float(s.mean()) < 0.9 for s in spikes)        # the layers do spike
    assert [l.name for l in spec.layers] == ["hidden0", "hidden1", "readout"]
    assert spec.readout == "max" and spec.input_size == 30 and spec.output_size == 5
    assert [l.recurrent for l in spec.layers] == [recurrent, recurrent, False]
    p = m.layers[1].neuron_params()
    h1 = spec.layer("hidden1")
    assert np.array_equal(h1.dv, p["dv"].numpy()) and np.array_equal(h1.vth, p["vth"].numpy())
    assert np.array_equal(h1.du, p["du"].numpy()) and np.array_equal(h1.bias, p["bias"].numpy())
    if preset.startswith("lif"):
        assert np.all(h1.du == 1)
    else:
        assert np.all(h1.du < 1)
    assert spec.layer("readout").vth is None and np.all(spec.layer("readout").du == 1)
    assert spec.metadata["model_config"] == m.config.to_dict()


def test_mean_linear_readout_becomes_an_integrator_read_as_the_mean():
    m = _model("lif-shd", readout="mean-linear")
    x = _spikes()
    spec = model_to_spec(m, dt=0.01)
    r = spec.layer("readout")
    assert spec.readout == "mean" and spec.dt == 0.01
    assert np.all(r.dv == 0) and np.all(r.du == 1)
    assert np.array_equal(r.bias, m.readout.bias.detach().numpy())
    # The model averages the spikes first, the spec sums W s_t + b over time: float rounding only.
    assert torch.allclose(SpecNetwork(spec)(x), m(x), rtol=0, atol=2e-6)


def test_a_synapse_bias_moves_into_the_neuron_bias_only_when_du_is_1():
    m = _model("lif-shd", synapse_bias=True)
    with torch.no_grad():
        for layer in m.layers:
            layer.synapse.bias.uniform_(-0.1, 0.1)
    x = _spikes()
    spec = model_to_spec(m)
    b = m.layers[0].synapse.bias.detach() + m.layers[0].neuron.bias.detach()
    assert np.array_equal(spec.layer("hidden0").bias, b.numpy())
    assert torch.allclose(SpecNetwork(spec)(x), m(x), atol=1e-5)
    cuba = _model("cuba-shd", synapse_bias=True)
    with torch.no_grad():
        cuba.layers[0].synapse.bias.zero_()   # a zero synapse bias is fine with du < 1
        cuba.layers[1].synapse.bias.fill_(0.1)
    with pytest.raises(ConversionError) as err:
        model_to_spec(cuba)
    assert err.value.node == "hidden1" and "du < 1" in str(err.value)


def test_unfolded_gpn_is_refused_with_the_fold_hint():
    torch.manual_seed(0)
    gpn = build_network(get_preset("gpn-small").network.replace(input_size=30, hidden=[8], n_classes=5))
    with pytest.raises(ConversionError) as err:
        model_to_spec(gpn)
    assert err.value.node == "hidden0" and err.value.node_type == "gpn"
    assert "spikedeploy fold" in str(err.value)


@pytest.mark.parametrize("neuron", ["pr-v2", "s2net"])
def test_other_neurons_without_a_loihi_form_are_refused(neuron):
    cfg = get_preset("lif-shd").network.replace(input_size=30, hidden=[8], n_classes=5, neuron=neuron,
                                                recurrent=False)
    with pytest.raises(ConversionError) as err:
        model_to_spec(build_network(cfg))
    assert err.value.node_type == neuron


def test_the_reader_does_not_change_the_model_and_refuses_nan():
    m = _model("cuba-shd")
    before = {k: v.clone() for k, v in m.state_dict().items()}
    spec = model_to_spec(m)
    spec.layers[0].weight[0, 0] = 123.0      # the spec owns copies of the arrays
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    with torch.no_grad():
        m.layers[1].neuron.recurrent.weight[2, 3] = float("nan")
    with pytest.raises(ConfigError) as err:
        model_to_spec(m)
    assert "hidden1" in err.value.field and "rec_weight" in err.value.field
    with pytest.raises(ConfigError):
        model_to_spec(torch.nn.Linear(3, 3))
