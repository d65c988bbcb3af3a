"""--from imp-snns: Ponghiran & Roy's v1 / v2 state dicts convert to pr-v2 networks with the
input quantiser, whose per-step readout is their per-frame output (within 1e-5 in float64)
and whose graded spikes are theirs."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ForeignModelError
from spikedeploy.foreign import ForeignOptions, convert_state, detect

from .imp_reference import ImprovedModel


def _source(v2: bool, seed: int = 0) -> ImprovedModel:
    torch.manual_seed(seed)
    return ImprovedModel(v2, n_in=12, hidden=10, layers=2, n_out=5).double().eval()


@pytest.mark.parametrize("v2", [False, True])
def test_converted_network_computes_the_sources_forward_pass(v2):
    src = _source(v2)
    sd = {k: v.float() for k, v in src.state_dict().items()}
    assert detect(sd) == [("imp-snns", f"the improved spiking model {'v2' if v2 else 'v1'} (2 layer(s))")]
    conv = convert_state(sd, "imp-snns", ForeignOptions(threshold=3))
    net = conv.network.double()
    x = torch.randn(4, 30, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 1.5
    with torch.no_grad():
        ref_frames, ref_spikes = src.float().double()(x.transpose(0, 1))
        states = net.initial_state(4, dtype=torch.float64)
        frames = []
        for x_t in x.transpose(0, 1):
            v_prev = states[len(net.layers)].clone()
            v, spikes, states = net.step(x_t, states)
            frames.append(v - v_prev)             # the mean readout's per-step output
        logits, spikes = net(x, return_spikes=True)
    assert float((torch.stack(frames) - ref_frames).abs().max()) <= 1e-5
    assert float((logits - ref_frames.mean(0)).abs().max()) <= 1e-5
    for k, (a, b) in enumerate(zip(ref_spikes, spikes)):
        # graded spikes: the same integer level in every entry; the value (level / scale) differs only by
        # the rounding of the scale, which the source stores in float32 and the conversion recomputes
        ours = b * net.layers[k].neuron.quantizer.scale()
        theirs = a * src.fsq_hs[k].scale
        assert torch.equal(torch.round(ours), torch.round(theirs)), f"layer {k}: levels differ"
        assert float((ours - torch.round(ours)).abs().max()) < 1e-9
        assert float((a - b).abs().max()) < 1e-6
        assert 0.02 < float((a != 0).double().mean()) < 0.9
    assert conv.network.config.quant_bits == 6 and conv.network.config.input_quant


def test_threshold_and_bits_and_unsupported_models():
    sd = _source(True).state_dict()
    with pytest.raises(ForeignModelError, match="--threshold"):
        convert_state(sd, "imp-snns", ForeignOptions())
    with pytest.raises(ForeignModelError, match="stored scale and range say 6 bits"):
        convert_state(sd, "imp-snns", ForeignOptions(threshold=3, n_bits=5))
    trad = {**{k: v for k, v in sd.items() if not k.startswith("linear_us")}, "taus.0": torch.ones(10)}
    with pytest.raises(ForeignModelError, match="traditional spiking model"):
        convert_state(trad, "imp-snns", ForeignOptions(threshold=3))
