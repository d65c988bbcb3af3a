"""Graded input spikes (Loihi 2): the host's encoder, the network reading payloads, the integer network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, QuantizationError
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.quant.emulator import emulate
from spikedeploy.quant.graded_input import encode, input_scale, payload_spec
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork
from spikedeploy.quant.ptq import QuantConfig, quantize

from .small_nets import two_layer_spec


def test_the_encoder_puts_the_calibration_peak_at_the_payload_top():
    x = np.array([[-2.0, 0.5, 1.0], [0.0, 0.26, -0.01]])
    s = input_scale(x, 8)
    assert s == pytest.approx(127 / 2.0)
    assert encode(x, s, 8).tolist() == [[-127, 32, 64], [0, 17, -1]]       # round(0.5 * 63.5) = 32
    assert encode(np.array([5.0, -5.0]), s, 8).tolist() == [127, -128]   # beyond the calibration: clipped
    with pytest.raises(ConfigError, match="2..32 bits"):
        input_scale(x, 1)
    with pytest.raises(ConfigError, match="non-zero"):
        input_scale(np.zeros(3), 8)


def test_the_payload_network_computes_what_the_float_network_computes():
    rng = np.random.default_rng(0)
    spec = two_layer_spec(rng, 4, 0.5)
    x = rng.normal(size=(5, 6, 3))
    s = input_scale(x, 16)
    p = payload_spec(spec, s, 16)
    assert p.metadata["input_scale"] == pytest.approx(s) and p.metadata["input_bits"] == 16
    assert np.array_equal(p.layers[1].weight, spec.layers[1].weight)
    with torch.no_grad():
        a = SpecNetwork(spec, dtype=torch.float64).run(torch.as_tensor(x))
        b = SpecNetwork(p, dtype=torch.float64).run(torch.as_tensor(encode(x, s, 16), dtype=torch.float64))
    assert torch.allclose(a.logits, b.logits, atol=1e-3)          # 16-bit payloads: rounding only


def test_the_quantiser_and_the_emulator_take_graded_payloads():
    rng = np.random.default_rng(1)
    spec = two_layer_spec(rng, 6, 1.0)
    x = rng.normal(size=(8, 10, 3))
    s = input_scale(x, 8)
    payloads = encode(x, s, 8)
    net, report = quantize(payload_spec(spec, s), payloads, config=QuantConfig(input_bits=8))
    assert net.input_bits == 8 and net.input_range == (-128, 127) and report.input_clipped == 0
    assert "graded, 8-bit payloads" in net.summary()
    assert LoihiNetwork.from_dict(net.to_dict()).input_bits == 8
    res = emulate(net, payloads)
    assert 0.02 < res.firing_rates()["h"] < 0.9
    with pytest.raises(ConfigError, match=r"\[-128, 127\]"):
        emulate(net, payloads * 2)
    with pytest.raises(ConfigError, match="graded payloads"):
        quantize(payload_spec(spec, s), x, config=QuantConfig(input_bits=8))     # not encoded


def test_graded_input_is_refused_where_the_chip_has_none():
    layer = LoihiLayer("h", np.array([[2, 4]]), 0, 4095, 0, vth=10)
    with pytest.raises(QuantizationError, match="binary spikes only") as err:
        LoihiNetwork(2, (layer,), chip="loihi1", input_bits=8)
    assert "Loihi 2" in err.value.remedy
    with pytest.raises(ConfigError, match="binary spikes"):
        emulate(LoihiNetwork(2, (layer,)), np.full((1, 3, 2), 3))
