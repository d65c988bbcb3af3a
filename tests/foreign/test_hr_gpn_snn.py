"""--from hr-gpn-snn: state dicts with the GPN authors' key names convert to networks whose
float forward pass is theirs (logits within 1e-5 in float64, identical spikes)."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ForeignModelError
from spikedeploy.foreign import ForeignOptions, convert_state, detect

from .hr_reference import SNNBase


def _source(neuron: str, depth: int, seed: int = 0, width: int = 48) -> SNNBase:
    torch.manual_seed(seed)
    net = SNNBase(neuron, depth=depth, width=width).double().eval()
    with torch.no_grad():
        for k in range(1, depth + 1):
            fc = getattr(net, f"fc{k}")
            fc.weight.mul_(6.0 if k == 1 else 3.0)          # enough drive to spike, not saturate
            sn = getattr(net, f"sn{k}")
            if neuron == "PLIF":
                sn.w.fill_(float(torch.randn(()) * 0.5))
            if neuron == "RLIF":
                sn.fc_U.weight.mul_(2.0)
    return net


def _frames(seed: int = 1, batch: int = 6, steps: int = 20) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((batch, steps, 700), 0.15), generator=g).double()


def _compare(kind: str, depth: int, **opts):
    src = _source(kind, depth)
    sd = {k: v.float() for k, v in src.state_dict().items()}
    conv = convert_state(sd, "hr-gpn-snn", ForeignOptions(time_steps=20, **opts))
    net = conv.network.double()
    x = _frames()
    with torch.no_grad():
        ref_logits, ref_spikes = src.float().double()(x)
        logits, spikes = net(x, return_spikes=True)
    return conv, ref_logits, logits, ref_spikes, spikes


@pytest.mark.parametrize("neuron,depth,opts", [
    ("GPN", 1, {}), ("GPN", 3, {}), ("LIF", 1, {"neuron": "LIF"}), ("IF", 3, {"neuron": "IF"}),
    ("PLIF", 1, {}), ("RLIF", 3, {}),
])
def test_converted_network_computes_the_sources_forward_pass(neuron, depth, opts):
    conv, ref_logits, logits, ref_spikes, spikes = _compare(neuron, depth, **opts)
    assert float((logits - ref_logits).abs().max()) <= 1e-5
    for k, (a, b) in enumerate(zip(ref_spikes, spikes)):
        assert torch.equal(a, b), f"layer {k}: {int((a != b).sum())} spikes differ"
        assert 0.005 < float(a.mean()) < 0.6, f"layer {k} rate {float(a.mean())}: the check needs spiking"
    assert conv.binning.n_steps == 20 and conv.binning.convention == "hr-gpn-snn"
    assert f"SNN_base_{depth}_48 with {neuron}" in conv.layout


def test_detect_names_the_layout_and_neuron():
    sd = _source("GPN", 3).state_dict()
    assert detect(sd) == [("hr-gpn-snn", "SNN_base_3_48 with GPN neurons")]
    sd = _source("LIF", 1).state_dict()
    assert detect(sd) == [("hr-gpn-snn", "SNN_base_1_48 with LIF or IF neurons")]


def test_lif_or_if_must_be_named():
    sd = _source("IF", 1).state_dict()
    with pytest.raises(ForeignModelError, match="--neuron LIF or --neuron IF"):
        convert_state(sd, "hr-gpn-snn", ForeignOptions(time_steps=20))


def test_time_steps_are_required():
    sd = _source("GPN", 1).state_dict()
    with pytest.raises(ForeignModelError, match="--time-steps"):
        convert_state(sd, "hr-gpn-snn", ForeignOptions())


def test_missing_extra_and_misshapen_tensors_are_named():
    sd = _source("GPN", 1).state_dict()
    missing = {k: v for k, v in sd.items() if k != "sn1.ln.bias"}
    with pytest.raises(ForeignModelError, match=r"sn1\.ln\.bias"):
        convert_state(missing, "hr-gpn-snn", ForeignOptions(time_steps=20))
    extra = {**sd, "sn1.extra": torch.zeros(3)}
    with pytest.raises(ForeignModelError, match="unknown neuron keys under sn1: extra"):
        convert_state(extra, "hr-gpn-snn", ForeignOptions(time_steps=20))
    extra = {**sd, "head.weight": torch.zeros(3)}
    with pytest.raises(ForeignModelError, match=r"unexpected keys .*head\.weight"):
        convert_state(extra, "hr-gpn-snn", ForeignOptions(time_steps=20))
    bad = {**sd, "fc2.bias": torch.zeros(7)}
    with pytest.raises(ForeignModelError, match=r"\[fc2\.bias\]: shape \[7\]"):
        convert_state(bad, "hr-gpn-snn", ForeignOptions(time_steps=20))


def test_an_unknown_layout_lists_the_known_ones_and_its_keys():
    sd = {"encoder.weight": torch.zeros(3, 3)}
    with pytest.raises(ForeignModelError) as err:
        convert_state(sd, "hr-gpn-snn", ForeignOptions(time_steps=20))
    text = str(err.value)
    assert "encoder.weight [3, 3]" in text
    assert all(f"{name} (" in text for name in ("hr-gpn-snn", "s2net", "imp-snns"))
    assert detect(sd) == []
