"""s2net's conv1d network as a dense LIF NetworkSpec: the same spikes as the conv network, and
quantised, the same spikes in Lava as in the emulator."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConversionError
from spikedeploy.fold.s2net_conv import conv1d_matrix, conv_to_spec
from spikedeploy.models.conv import ConvLayerSpec, ConvNetworkConfig, ConvSpikingNetwork
from spikedeploy.models.spec_network import SpecNetwork

BANDS = 12


def _net(seed=0, **changes):
    torch.manual_seed(seed)
    cfg = ConvNetworkConfig(1, BANDS, 3, (ConvLayerSpec(3, (3,), (1,)), ConvLayerSpec(2, (3,), (2,))),
                            **{"conv": "conv1d", "reset": "zero", **changes})
    net = ConvSpikingNetwork(cfg).eval()
    with torch.no_grad():
        for layer in net.layers:
            layer.neuron.b.fill_(0.3)
            layer.neuron.beta.fill_(0.8)
    return net


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
    x = _x()
    with torch.no_grad():
        _, spikes = net(x, return_spikes=True)
        run = SpecNetwork(conv_to_spec(net, 1e-3), dtype=torch.float64).run(x.double())
    for ours, theirs in zip(spikes, run.outputs[:-1]):
        flat = ours.flatten(2).double()
        assert 0.02 < float(flat.mean()) < 0.6
        assert int((flat != theirs).sum()) <= flat.numel() // 2000, "float rounding at most"
    logits = net(x)
    assert torch.allclose(run.logits.float(), logits, atol=1e-4)


def test_what_does_not_fold_exactly_is_refused():
    with pytest.raises(ConversionError, match="subtractive self-reset"):
        conv_to_spec(_net(reset="subtract"), 1e-3)
    torch.manual_seed(0)
    conv2d = ConvSpikingNetwork(ConvNetworkConfig(1, BANDS, 3, (ConvLayerSpec(2, (2, 3), (1, 1)),), reset="zero"))
    with pytest.raises(ConversionError, match="synaptic delays"):
        conv_to_spec(conv2d, 1e-3)


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
