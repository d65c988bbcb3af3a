"""Synaptic operations of s2net's convolutional network, by NeuroBench's rules.

For a convolution, each non-zero input element is one operation for every output element
it reaches: the count is the convolution of the inputs' non-zero indicator with a kernel of
ones (``C_out`` output channels, the layer's kernel, dilation and padding), summed; with a
binary input the operations are accumulates (ACs), with a real-valued one (the first
layer's log-Mel input) multiply-accumulates (MACs). ``dense`` is the same with every input
non-zero. The lateral term ``s_{t-1} D`` adds ``C`` accumulates per spike (its own position's
channels) and the readout ``K`` per spike of the last layer (K classes). Per inference (per
sample), with each layer's neuron updates (``C x F`` per step) and spikes.
"""

from __future__ import annotations

from typing import Any

import torch


def _reach(layer: Any, nz: torch.Tensor) -> float:
    """Output elements reached by the non-zero inputs ``nz`` [B, T, C_in, F] (0/1), summed."""
    return float(layer.convolve(nz, torch.ones_like(layer.synapse.weight)).sum())


@torch.no_grad()
def conv_synops(net: Any, x: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per layer and per inference: effective ACs and MACs, dense operations, neuron updates and
    spikes of ``net`` (a ConvSpikingNetwork) on ``x`` [B, T, C_in, F] (or flattened frames)."""
    net = net.eval()
    if x.ndim == 3:
        x = x.reshape(x.shape[0], x.shape[1], net.in_channels, net.bands)
    _, spikes = net(x, return_spikes=True)
    b = x.shape[0]
    out: dict[str, dict[str, float]] = {}
    h = (x - net.input_mean) / net.input_std           # what the first layer reads
    for k, (layer, s) in enumerate(zip(net.layers, spikes)):
        nz = (h != 0).to(x.dtype)
        binary = bool(((h == 0) | (h == 1)).all())
        eff = _reach(layer, nz) / b
        lateral = float((s != 0).sum()) * layer.channels / b if layer.neuron.lateral else 0.0
        out[f"conv{k}"] = {"effective_acs": (eff if binary else 0.0) + lateral,
                           "effective_macs": 0.0 if binary else eff,
                           "dense_ops": _reach(layer, torch.ones_like(nz)) / b,
                           "neuron_updates": float(s[0].numel()), "spikes": float((s != 0).sum()) / b}
        h = s
    k = net.readout.synapse.out_features
    out["readout"] = {"effective_acs": float((h != 0).sum()) * k / b, "effective_macs": 0.0,
                      "dense_ops": float(h[0].numel()) * k, "neuron_updates": 0.0, "spikes": 0.0}
    return out
