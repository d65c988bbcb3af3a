"""s2net's conv network as a dense LIF NetworkSpec (conv2d: its time taps as synaptic delays):
the same spikes as the conv network, and quantised, the same spikes in Lava as in the emulator."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConversionError
from spikedeploy.fold.s2net_conv import conv1d_matrix, conv_taps, conv_to_spec
from spikedeploy.models.conv import ConvLayerSpec, ConvNetworkConfig, ConvSpikingNetwork
from spikedeploy.models.spec_network import SpecNetwork

BANDS = 12


def _build(seed, conv, layers, changes):
    torch.manual_seed(seed)
    cfg = ConvNetworkConfig(1, BANDS, 3, layers, **{"conv": conv, "reset": "zero", **changes})
    net = ConvSpikingNetwork(cfg).eval()
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.b.fill_(0.3)
            layer.neuron.beta.fill_(0.8)
    return net


def _net(seed=0, **changes):
    return _build(seed, "conv1d", (ConvLayerSpec(3, (3,), (1,)), ConvLayerSpec(2, (3,), (2,))), changes)


def _x(seed=0, n=6, t=30):
    return (torch.rand(n, t, BANDS, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def test_the_dense_matrix_is_the_convolution():
    net = _net()
    layer = net.layers[1]
    m = torch.as_tensor(conv1d_matrix(layer, BANDS))
    h = torch.rand(5, 3, BANDS, dtype=torch.float64)
    direct = torch.nn.functional.conv1d(h, layer.synapse.weight.double(), padding=2, dilation=2)
    assert torch.allclose(h.reshape(5, -1) @ m.t(), direct.reshape(5, -1), atol=1e-12)
    assert m.shape == (2 * BANDS, 3 * BANDS)


def test_the_spec_spikes_as_the_conv_network_does():
    net = _net()
    net.set_input_norm(torch.full((1, BANDS), 0.2), torch.full((1, BANDS), 0.7))
    _assert_spec_spikes_as_the_net(net, conv_to_spec(net, 1e-3), _x())


def _net2d(seed=0, **changes):
    """Two conv2d layers: kernel (3, 3) dilation (1, 1) and kernel (2, 3) dilation (2, 1)."""
    return _build(seed, "conv2d", (ConvLayerSpec(3, (3, 3), (1, 1)), ConvLayerSpec(2, (2, 3), (2, 1))), changes)


def _assert_spec_spikes_as_the_net(net, spec, x):
    """The spec's spikes equal the conv network's (float rounding aside) and so do the logits."""
    with torch.no_grad():
        _, spikes = net(x, return_spikes=True)
        run = SpecNetwork(spec, dtype=torch.float64).run(x.double())
    for ours, theirs in zip(spikes, run.outputs[:-1]):
        flat = ours.flatten(2).double()
        assert 0.02 < float(flat.mean()) < 0.6
        assert int((flat != theirs).sum()) <= flat.numel() // 2000, "float rounding at most"
    assert torch.allclose(run.logits.float(), net(x), atol=1e-4)


def test_conv2d_time_taps_are_delayed_dense_matrices():
    layer = _net2d().layers[1]                       # kernel (2, 3), dilation (2, 1): taps at delays 0 and 2
    delays, m = conv_taps(layer, BANDS)
    assert delays == (0, 2) and m.shape == (2 * BANDS, 2 * 3 * BANDS)
    h = torch.rand(4, 7, 3, BANDS, dtype=torch.float64)
    direct = layer.convolve(h, layer.synapse.weight.double())                  # [4, 7, 2, F]
    stacked = torch.cat([torch.nn.functional.pad(h.flatten(2), (0, 0, d, 0))[:, :7] for d in delays], dim=2)
    assert torch.allclose(stacked @ torch.as_tensor(m).t(), direct.flatten(2), atol=1e-12)
    # the newest input meets the kernel's last time row (delay 0), the oldest its first
    w = layer.synapse.weight.double()
    first = torch.nn.functional.conv1d(h[:, 0], w[:, :, -1], padding=1).flatten(1)
    assert torch.allclose(h[:, 0].flatten(1) @ torch.as_tensor(m[:, :3 * BANDS]).t(), first, atol=1e-12)


def test_the_conv2d_spec_spikes_as_the_conv_network_does():
    net = _net2d(1)
    net.set_input_norm(torch.zeros(1, BANDS), torch.full((1, BANDS), 0.7))   # a scale folds exactly, a mean not
    x = _x(5)
    spec = conv_to_spec(net, 1e-3)
    assert [l.delays for l in spec.layers] == [(0, 1, 2), (0, 2), (0,)]
    _assert_spec_spikes_as_the_net(net, spec, x)


def test_what_does_not_fold_exactly_is_refused():
    with pytest.raises(ConversionError, match="subtractive self-reset"):
        conv_to_spec(_net(reset="subtract"), 1e-3)
    net = _net2d()
    net.set_input_norm(torch.full((1, BANDS), 0.2), torch.ones(1, BANDS))
    with pytest.raises(ConversionError, match="non-zero mean") as err:
        conv_to_spec(net, 1e-3)
    assert "standardise='host'" in err.value.remedy


def test_host_standardisation_leaves_the_first_layer_reading_standardised_input():
    net = _net2d(3)
    mean, std = torch.full((1, BANDS), 0.2), torch.full((1, BANDS), 0.5)
    net.set_input_norm(mean, std)
    spec = conv_to_spec(net, 1e-3, standardise="host")
    assert spec.metadata["input_standardise"] == "host" and spec.metadata["input_mean"] == pytest.approx([0.2] * BANDS)
    x = _x(7) * 1.7
    with torch.no_grad():
        run = SpecNetwork(spec, dtype=torch.float64).run(((x - 0.2) / 0.5).double())
        assert torch.allclose(run.logits.float(), net(x), atol=1e-4)


@pytest.mark.lava
@pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")
def test_the_quantised_conv_network_runs_bit_exactly_in_lava():
    from spikedeploy.lava_backend.run import run_stream, verify_bit_exact
    from spikedeploy.quant.ptq import QuantConfig, quantize

    net = _net(1)
    spec = conv_to_spec(net, 1e-3)
    x = _x(3, n=4, t=20)
    loihi, _ = quantize(spec, x.numpy(), config=QuantConfig(allow_approx=True))
    res = run_stream(loihi, x.numpy().astype(np.uint8), gap_steps=2, record_voltage="all")
    verify_bit_exact(res)                                # every spike and voltage, or VerificationError
    assert 0.01 < float(res.spikes["conv0"].mean()) < 0.9


def test_an_li_readout_becomes_the_specs_max_readout():
    net = _net(2, readout="li")
    x = _x(4)
    spec = conv_to_spec(net, 1e-3)
    assert spec.readout == "max" and float(spec.layers[-1].dv[0]) == pytest.approx(0.1)
    with torch.no_grad():
        run = SpecNetwork(spec, dtype=torch.float64).run(x.double())
        assert torch.allclose(run.logits.float(), net(x), atol=1e-4)


@pytest.mark.lava
@pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")
def test_the_quantised_conv2d_network_runs_bit_exactly_in_lava_with_delays():
    from spikedeploy.lava_backend.run import run_stream, verify_bit_exact
    from spikedeploy.quant.emulator import emulate, quiet_gap
    from spikedeploy.quant.ptq import QuantConfig, quantize

    net = _net2d(2)
    spec = conv_to_spec(net, 1e-3)
    x = _x(6, n=4, t=20).numpy().astype(np.uint8)
    loihi, _ = quantize(spec, x, config=QuantConfig(allow_approx=True))
    gap = quiet_gap(loihi, x, max_gap=20)
    assert gap is not None and gap >= 2               # conv1's taps reach 2 steps back
    res = run_stream(loihi, x, gap_steps=gap, replicas=2, record_voltage="all")
    emu = verify_bit_exact(res)                       # every spike and voltage, or VerificationError
    assert emu.independent and 0.01 < float(res.spikes["conv0"].mean()) < 0.9
    ref = emulate(loihi, x)
    for name in loihi.layer_names:                    # and each window is the sample's own run
        np.testing.assert_array_equal(res.per_sample()["spikes"][name], ref.spikes[name].numpy())
