"""Network builder, config round trips, presets, dropout, structure seen from outside."""

import pytest
import torch
from torch import nn

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.models import NetworkConfig, build_network, get_preset, PRESETS
from spikedeploy.models.networks import SequenceDropout
from spikedeploy.models.readout import LIReadout, MeanLinearReadout

SMALL = dict(input_size=12, hidden=(7, 5), n_classes=3)


@pytest.mark.parametrize("neuron,recurrent,readout", [
    ("lif", True, "li"), ("cuba-lif", False, "li"), ("cuba-lif", True, "mean-linear"), ("gpn", False, "mean-linear"),
])
def test_forward_equals_step_by_step(neuron, recurrent, readout):
    torch.manual_seed(0)
    net = build_network(NetworkConfig(neuron=neuron, recurrent=recurrent, readout=readout,
                                      weight_gain=4.0, **SMALL)).eval()
    x = (torch.rand(3, 30, 12) < 0.3).float()
    logits, spikes = net(x, return_spikes=True)
    assert logits.shape == (3, 3) and [s.shape for s in spikes] == [(3, 30, 7), (3, 30, 5)]
    assert sum(s.sum() for s in spikes) > 0  # the comparison is not trivial
    assert torch.allclose(net.forward_steps(x), logits, atol=1e-5)


def test_structure_is_readable_from_outside():
    net = build_network(NetworkConfig(neuron="cuba-lif", recurrent=True, **SMALL))
    assert len(net.layers) == 2
    l0, l1 = net.layers
    assert isinstance(l0.synapse, nn.Linear) and l0.synapse.weight.shape == (7, 12) and l0.synapse.bias is None
    assert l0.recurrent.weight.shape == (7, 7) and l1.recurrent.weight.shape == (5, 5)
    assert l0.kind == "cuba-lif" and l0.size == 7
    assert {k: v.shape for k, v in l1.neuron_params().items()} == {k: (5,) for k in ("du", "dv", "vth", "bias")}
    assert isinstance(net.readout, LIReadout) and net.readout.synapse.weight.shape == (3, 5)
    assert set(net.readout.neuron_params()) == {"du", "dv", "bias"}
    gpn = build_network(NetworkConfig(neuron="gpn", readout="mean-linear", synapse_bias=True, **SMALL))
    assert gpn.layers[0].recurrent is None and gpn.layers[0].synapse.bias is not None
    assert gpn.layers[1].neuron_params()["gate_weight"].shape == (20, 10)
    assert isinstance(gpn.readout, MeanLinearReadout) and gpn.readout.reduce == "mean"


def test_wrong_channel_count_is_a_shape_mismatch():
    net = build_network(NetworkConfig(**SMALL))
    with pytest.raises(ShapeMismatchError) as err:
        net(torch.zeros(2, 10, 13))
    assert "12" in str(err.value) and "13" in str(err.value)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        NetworkConfig(neuron="izhikevich")
    assert "cuba-lif" in str(err.value) and "gpn" in str(err.value)
    with pytest.raises(ConfigError) as err:
        get_preset("lstm-shd")
    assert all(name in str(err.value) for name in ("lif-shd", "cuba-shd", "gpn-shd", "gpn-ssc"))
    with pytest.raises(ConfigError):
        NetworkConfig(readout="softmax")
    with pytest.raises(ConfigError):
        NetworkConfig(neuron="gpn", recurrent=True)
    with pytest.raises(ConfigError):
        NetworkConfig(hidden=(128, 0))
    with pytest.raises(ConfigError):
        NetworkConfig(dropout=1.0)
    with pytest.raises(ConfigError) as err:
        NetworkConfig.from_dict({"hiden": [3]})
    assert "hidden" in str(err.value)


def test_config_round_trip():
    cfg = NetworkConfig(hidden=(64, 32), neuron="lif", recurrent=True, surrogate="fast-sigmoid",
                        surrogate_scale=5.0, dropout=0.2)
    d = cfg.to_dict()
    assert d["hidden"] == [64, 32]
    assert NetworkConfig.from_dict(d) == cfg
    assert NetworkConfig.from_dict({"hidden": [10]}).hidden == (10,)


def test_presets_build_with_the_papers_shapes():
    assert set(PRESETS) >= {"lif-shd", "cuba-shd", "gpn-shd", "gpn-ssc"}
    shd = get_preset("gpn-shd")
    assert shd.network.hidden == (1024,) and shd.network.n_classes == 20 and shd.n_steps == 20
    assert shd.network.readout == "mean-linear" and shd.network.dropout == 0.25
    ssc = get_preset("gpn-ssc")
    assert ssc.network.hidden == (1024, 1024, 1024) and ssc.network.n_classes == 35 and ssc.n_steps == 60
    net = build_network(shd.network)
    gate_params = net.layers[0].neuron.gates.weight.numel() + net.layers[0].neuron.gates.bias.numel()
    assert gate_params == 2048 * 4096 + 4096  # about 8.4 M, as the paper says
    for name in ("lif-shd", "cuba-shd"):
        p = get_preset(name)
        assert p.network.recurrent and p.network.hidden == (128,)


def test_sequence_dropout_uses_one_mask_for_all_steps():
    torch.manual_seed(0)
    d = SequenceDropout(0.5).train()
    y = d(torch.ones(8, 20, 30))
    assert torch.equal(y, y[:, :1].expand_as(y))          # constant over time
    assert set(y.unique().tolist()) == {0.0, 2.0}
    assert 0.3 < (y[:, 0] == 0).float().mean().item() < 0.7
    assert torch.equal(d.eval()(torch.ones(2, 3, 4)), torch.ones(2, 3, 4))


def test_dropout_applies_between_layers_only_in_training():
    torch.manual_seed(1)
    net = build_network(NetworkConfig(dropout=0.5, weight_gain=4.0, **SMALL))
    x = (torch.rand(2, 20, 12) < 0.3).float()
    net.eval()
    a = net(x)
    assert torch.equal(a, net(x))
    net.train()
    torch.manual_seed(5)
    b = net(x)
    torch.manual_seed(6)
    c = net(x)
    assert not torch.equal(b, c)
