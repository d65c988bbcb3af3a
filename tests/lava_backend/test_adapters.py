"""What Lava's processes are given: the integer and the float adapters, the one grouping rule,
and a float network in Lava's floating_pt models against PyTorch in float64."""

import importlib.util

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.lava_backend.adapters import from_float, from_integers, lava_network, per_neuron_problem
from spikedeploy.lava_backend.convert import convert_graph
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

from ..quant.small_nets import TRACE_A, negative_exp_net, recurrent_net, single_neuron
from .test_convert import DT, hand_graph

lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


def test_float_adapter_hands_lava_the_specs_own_parameters():
    spec = convert_graph(hand_graph(), DT).spec
    net = from_float(spec)
    assert (net.config, net.state_scale, net.input_size, net.latency) == ("floating_pt", 1.0, 3, 2)
    for layer, ll in zip(spec.layers, net.layers):
        np.testing.assert_array_equal(ll.weight, layer.weight.astype(np.float64))
        np.testing.assert_array_equal(ll.du, layer.du.astype(np.float64))
        np.testing.assert_array_equal(ll.dv, layer.dv.astype(np.float64))
        np.testing.assert_array_equal(ll.bias, layer.bias.astype(np.float64))
        assert (ll.weight_exp, ll.bias_exp) == (0, 0)
        if layer.spiking:
            np.testing.assert_array_equal(ll.vth, layer.vth.astype(np.float64))
        else:
            assert np.all(np.isinf(ll.vth))
        if layer.recurrent:
            np.testing.assert_array_equal(ll.rec_weight, layer.rec_weight.astype(np.float64))
    # decay groups by float (du, dv, vth): neurons 0 and 3 share du but differ in dv -> 4 groups
    assert [g.neurons.tolist() for g in net.layers[0].decay_groups()] == [[0], [1], [2], [3]]
    with pytest.raises(ConfigError, match="floating_pt only"):
        lava_network(spec, "fixed_pt")


def test_integer_adapter_passes_the_integers_or_lavas_float_units():
    net = single_neuron(**TRACE_A)           # w 100, du 1023, dv 2048, vth 150, bias 10 << 1
    fixed = from_integers(net, "fixed_pt")
    f = fixed.layers[0]
    assert (fixed.state_scale, f.weight.tolist(), f.du.tolist(), f.dv.tolist(), f.vth.tolist()) == \
        (1.0, [[100]], [1023], [2048], [150])
    assert (f.bias.tolist(), f.bias_exp, f.weight_exp) == ([10], 1, 0)
    flt = from_integers(net, "floating_pt").layers[0]
    # u = u (1 - du) + a_in, v = v (1 - dv) + u + bias in units where v_float * 64 = v_int
    assert (flt.weight.tolist(), flt.du.tolist(), flt.dv.tolist(), flt.vth.tolist(), flt.bias.tolist()) == \
        ([[100.0]], [1024 / 4096], [2048 / 4096], [150.0], [20 / 64])
    assert from_integers(net, "floating_pt").state_scale == 64.0
    # a negative exponent scales the float weights
    neg, _ = negative_exp_net()
    first = neg.layers[0]
    np.testing.assert_array_equal(from_integers(neg, "floating_pt").layers[0].weight,
                                  first.weight * 2.0 ** first.weight_exp)
    with pytest.raises(ConfigError, match="unknown Lava configuration"):
        from_integers(net, "float")


def test_one_grouping_rule_for_integer_layers_and_lava_parameters():
    layer = LoihiLayer("h", np.zeros((5, 2), int), 0, du=[1, 2, 1, 2, 1], dv=[0, 0, 0, 0, 7], vth=10)
    groups = layer.decay_groups()
    assert [(g.du, g.dv, g.vth, g.neurons.tolist()) for g in groups] == \
        [(1, 0, 10, [0, 2]), (2, 0, 10, [1, 3]), (1, 7, 10, [4])]
    assert all(type(g.du) is int for g in groups)
    net = LoihiNetwork(2, (layer, LoihiLayer("o", np.zeros((1, 5), int), 0, 0, 0, spiking=False)))
    assert [g.neurons.tolist() for g in from_integers(net, "floating_pt").layers[0].decay_groups()] == \
        [g.neurons.tolist() for g in groups]


def test_per_neuron_decays_refuse_negative_exponents_over_several_groups():
    net, _ = negative_exp_net()
    assert "negative weight exponent" in per_neuron_problem(from_integers(net))
    assert per_neuron_problem(from_integers(recurrent_net()[0])) is None        # exponents >= 0: allowed


@pytest.mark.lava
@lava
def test_floating_pt_lava_runs_the_float_network_like_pytorch_in_float64():
    from spikedeploy.lava_backend.run import run_stream
    from spikedeploy.models.spec_network import SpecNetwork

    spec = convert_graph(hand_graph(scale=3.0), DT).spec
    rng = np.random.default_rng(1)
    x = (rng.random((3, 25, 3)) < 0.4).astype(np.uint8)
    res = run_stream(spec, x, gap_steps=25, replicas=2, config="floating_pt", record_voltage="all")
    per = res.per_sample()
    ref = SpecNetwork(spec, dtype=torch.float64).run(torch.as_tensor(x, dtype=torch.float64))
    s = per["spikes"]["cuba"]
    assert 0.05 < s.mean() < 0.9
    np.testing.assert_array_equal(s, ref.outputs[0].numpy())
    for i, name in enumerate(("cuba", "li")):      # recorded in the spec's own units
        np.testing.assert_allclose(per["voltage"][name], ref.voltages[i].numpy(), rtol=0, atol=1e-12)
