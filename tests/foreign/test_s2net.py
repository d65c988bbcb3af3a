"""--from s2net: an SNN of SpikingDenseLayer + ReadoutLayer(mean) with s2net's parameter names
converts to a network whose float forward pass is theirs (logits within 1e-5 in float64,
identical spikes). The reference below is written from their published equations (models.py)."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ForeignModelError
from spikedeploy.foreign import ForeignOptions, convert_state, detect


def _reference(sd: dict, x: torch.Tensor, n_layers: int, lateral: bool, recurrent: bool):
    """s2net's dense layers and mean readout, evaluation semantics, float64."""
    spikes, h_in = [], x
    for i in range(n_layers):
        w, beta, b = sd[f"layers.{i}.w"], sd[f"layers.{i}.beta"], sd[f"layers.{i}.b"]
        h = torch.einsum("abc,cd->abd", h_in, w)
        norm = (w ** 2).sum(0)
        d = w.t() @ w if lateral else None
        mem = torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype)
        spk = torch.zeros_like(mem)
        rec = []
        for t in range(h.shape[1]):
            rst = spk @ d if lateral else spk * b * norm
            inp = h[:, t] + (spk @ sd[f"layers.{i}.v"] if recurrent else 0.0)
            mem = (mem - rst) * beta + inp * (1.0 - beta)
            spk = ((mem / (norm + 1e-8) - b) > 0).to(x.dtype)
            rec.append(spk)
        h_in = torch.stack(rec, 1)
        spikes.append(h_in)
    w, b = sd[f"layers.{n_layers}.w"], sd[f"layers.{n_layers}.b"]
    out = torch.einsum("abc,cd->abd", h_in, w).mean(1) / ((w ** 2).sum(0) + 1e-8) - b
    return out, spikes


def _state(lateral_scale: float, recurrent: bool, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sizes = (30, 20, 16, 5)
    sd = {}
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        sd[f"layers.{i}.w"] = torch.randn(n_in, n_out, generator=g, dtype=torch.float64) * lateral_scale
        sd[f"layers.{i}.b"] = torch.rand(n_out, generator=g, dtype=torch.float64) * 0.3
        if i < 2:
            sd[f"layers.{i}.beta"] = torch.tensor([0.7 + 0.1 * i], dtype=torch.float64)
            if recurrent:
                sd[f"layers.{i}.v"] = torch.randn(n_out, n_out, generator=g, dtype=torch.float64) * 0.2
    return sd


@pytest.mark.parametrize("lateral,recurrent", [(True, False), (False, False), (True, True)])
def test_converted_network_computes_the_sources_forward_pass(lateral, recurrent):
    sd = _state(0.4, recurrent)
    x = (torch.rand(6, 30, 30, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    conv = convert_state({k: v.float() for k, v in sd.items()}, "s2net", ForeignOptions(lateral=lateral))
    net = conv.network.double()
    with torch.no_grad():
        logits, spikes = net(x, return_spikes=True)
        # the source's parameters as the file stores them (float32), computed in float64
        ref_logits, ref_spikes = _reference({k: v.float().double() for k, v in sd.items()}, x, 2, lateral,
                                            recurrent)
    assert float((logits - ref_logits).abs().max()) <= 1e-5
    for k, (a, b) in enumerate(zip(ref_spikes, spikes)):
        assert torch.equal(a, b), f"layer {k}: {int((a != b).sum())} spikes differ"
        assert 0.01 < float(a.mean()) < 0.7, f"layer {k} rate {float(a.mean())}"


def test_max_readout_and_convolutions_are_refused_with_the_reason():
    sd = _state(0.4, False)
    assert detect(sd)[0][0] == "s2net"
    with pytest.raises(ForeignModelError, match="'max'"):
        convert_state({**sd, "layers.2.beta": torch.tensor([0.7])}, "s2net")
    with pytest.raises(ForeignModelError, match="convolutional layer"):
        convert_state({**sd, "layers.0.w": torch.zeros(4, 3, 5)}, "s2net")
