"""A convolutional layer's NIR nodes as NIR ``Conv1d`` nodes instead of dense matrices.

The standard form (:mod:`.export`) writes every layer as dense matrices: for s2net's conv
layers (``fold.s2net_conv``) the Toeplitz matrices ``[C F, C_in F]``, one per delay. With
``conv_nodes`` the exporter rewrites such a layer (the spec's ``metadata["conv_layers"]``
names it and gives its frequency geometry) in NIR's convolutional vocabulary:

* each tap's matrix -> ``Conv1d`` (``weight [C, C_in, K]``, the layer's dilation and padding,
  stride 1; the first tap's bias per channel), after its ``Delay`` node (shape ``[C_in, F]``);
* the lateral (recurrent) block matrix -> a ``Conv1d`` with kernel size 1 (``D`` between the
  channels at each band);
* the neuron node's parameters shaped ``[C, F]``; the Input shaped ``[C_in, F]`` when the
  first layer is convolutional; a ``Flatten`` before the first dense layer after them.

Signals are flattened channel-major (C order), as the spec's rows are, so the reader
(:mod:`.load`: ``Conv1d`` -> the convolution applied to every unit input) gets the same
matrices back. The rewrite is exact or refused: each kernel is read off its matrix and the
matrix rebuilt from it must be equal element for element (a first layer with the input
standardisation folded per band is not a convolution: export it in the standard form).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import nir
import numpy as np
import torch

from ..errors import ConversionError
from ..netspec import NetworkSpec
from .convention import NODE_KEY_LAYER, NODE_KEY_ROLE, ROLE_DELAY, ROLE_NEURON, ROLE_RECURRENT, ROLE_SYNAPSE, ROLE_TAP


def conv_matrix(kernel: np.ndarray, bands: int, *, stride: int = 1, padding: int | str = 0, dilation: int = 1,
                groups: int = 1) -> np.ndarray:
    """``Conv1d(kernel)`` on ``[C_in, bands]`` as a matrix ``[C F_out, C_in bands]`` (float64, channel-major)."""
    w = torch.as_tensor(np.asarray(kernel, dtype=np.float64))
    n = w.shape[1] * groups * bands
    eye = torch.eye(n, dtype=torch.float64).reshape(n, w.shape[1] * groups, bands)
    out = torch.nn.functional.conv1d(eye, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return out.reshape(n, -1).t().numpy()


def _kernel_of(name: str, block: np.ndarray, geo: Mapping[str, Any], in_channels: int, size: int) -> np.ndarray:
    """The kernel ``[C, C_in, K]`` whose convolution is ``block``; ConversionError unless exact."""
    bands, c_out = int(geo["bands"]), block.shape[0] // int(geo["bands"])
    k, dil, pad = int(size), int(geo["dilation"]), int(geo["padding"])
    f0 = pad                                     # a band whose every tap lies inside the input
    cols = (np.arange(in_channels)[:, None] * bands + f0 - pad + np.arange(k)[None, :] * dil)  # [C_in, K]
    kernel = block[np.arange(c_out) * bands + f0][:, cols]                                  # [C, C_in, K]
    rebuilt = conv_matrix(kernel, bands, padding=pad, dilation=dil).astype(block.dtype)
    if rebuilt.shape != block.shape or not np.array_equal(rebuilt, block):
        raise ConversionError(name, "layer", "its matrix is not a convolution over the bands (e.g. the input "
                              "standardisation folded per band)", remedy="export it without --conv-nodes")
    return kernel


def _reshaped(node: nir.NIRNode, n: int, shape: tuple[int, ...]) -> nir.NIRNode:
    """``node`` rebuilt with its per-neuron arrays shaped ``shape``."""
    kw = {}
    for f in dataclasses.fields(node):
        if f.name in ("input_type", "output_type"):
            continue
        v = getattr(node, f.name)
        kw[f.name] = v.reshape(shape) if isinstance(v, np.ndarray) and v.size == n else v
    return type(node)(**kw)


def _meta(layer: str, role: str) -> dict[str, str]:
    return {NODE_KEY_LAYER: layer, NODE_KEY_ROLE: role}


def _layer(nodes: dict[str, nir.NIRNode], spec_layer: Any, geo: Mapping[str, Any]) -> None:
    """Rewrite one conv layer's nodes in place (module docstring)."""
    name, bands = spec_layer.name, int(geo["bands"])
    c_in, c_out = int(geo["in_channels"]), int(geo["channels"])
    for d in spec_layer.delays:
        key = f"{name}.{ROLE_SYNAPSE}" if d == spec_layer.delays[0] else f"{name}.{ROLE_TAP}{d}"
        old = nodes[key]
        kernel = _kernel_of(name, np.asarray(old.weight), geo, c_in, int(geo["kernel"]))
        bias = np.zeros(c_out, dtype=kernel.dtype)
        if getattr(old, "bias", None) is not None:
            per_band = np.asarray(old.bias).reshape(c_out, bands)
            if not np.all(per_band == per_band[:, :1]):
                raise ConversionError(name, "layer", "its bias differs between bands", remedy="export it "
                                      "without --conv-nodes")
            bias = per_band[:, 0].astype(kernel.dtype)
        role = ROLE_SYNAPSE if key.endswith(ROLE_SYNAPSE) else ROLE_TAP
        nodes[key] = nir.Conv1d(input_shape=bands, weight=kernel, stride=1, padding=int(geo["padding"]),
                                dilation=int(geo["dilation"]), groups=1, bias=bias, metadata=_meta(name, role))
        if d:
            delay = nodes[f"{name}.{ROLE_DELAY}{d}"]
            nodes[f"{name}.{ROLE_DELAY}{d}"] = nir.Delay(delay=np.asarray(delay.delay).reshape(c_in, bands),
                                                         metadata=_meta(name, ROLE_DELAY))
    rec_key = f"{name}.{ROLE_RECURRENT}"
    if rec_key in nodes:
        lateral = _kernel_of(name, np.asarray(nodes[rec_key].weight), {**geo, "dilation": 1, "padding": 0},
                             c_out, 1)
        nodes[rec_key] = nir.Conv1d(input_shape=bands, weight=lateral, stride=1, padding=0, dilation=1, groups=1,
                                    bias=np.zeros(c_out, dtype=lateral.dtype), metadata=_meta(name, ROLE_RECURRENT))
    key = f"{name}.{ROLE_NEURON}"
    nodes[key] = _reshaped(nodes[key], c_out * bands, (c_out, bands))


def conv_form(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]], spec: NetworkSpec, input_node: str
              ) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """The graph with the spec's conv layers as Conv1d nodes (module docstring)."""
    geometry = dict(spec.metadata.get("conv_layers") or {})
    if not geometry:
        raise ConversionError("graph", "NetworkSpec", "no convolutional layers (metadata 'conv_layers')",
                              remedy="--conv-nodes is for s2net conv checkpoints; export without it")
    nodes = dict(nodes)
    for layer in spec.layers:
        if layer.name in geometry:
            _layer(nodes, layer, geometry[layer.name])
    first = spec.layers[0].name
    if first in geometry:
        g = geometry[first]
        nodes[input_node] = nir.Input(input_type=np.array([int(g["in_channels"]), int(g["bands"])]))
    for prev, layer in zip(spec.layers[:-1], spec.layers[1:]):
        if prev.name in geometry and layer.name not in geometry:      # dense after conv: flatten first
            g, src = geometry[prev.name], f"{prev.name}.{ROLE_NEURON}"
            flat = f"{layer.name}.flatten"
            nodes[flat] = nir.Flatten(input_type={"input": np.array([int(g["channels"]), int(g["bands"])])},
                                      start_dim=0, metadata=_meta(layer.name, "flatten"))
            edges = [(flat if a == src and b.startswith(layer.name + ".") else a, b) for a, b in edges]
            edges.append((src, flat))
    return nodes, edges
