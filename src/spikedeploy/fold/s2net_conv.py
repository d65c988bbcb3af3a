"""s2net's convolutional network as a Loihi LIF network (``NetworkSpec``), exactly.

A ``conv1d`` layer (:class:`~spikedeploy.models.conv.S2NetConv`, convolution over frequency)
is a linear map of its input frame, so it is written as its equivalent dense matrix: the
Toeplitz matrix ``T`` [C F, C_in F] (rows ``c F + f``: channel ``c`` at band ``f``; made by
applying the convolution to every unit input, so padding and dilation are the layer's own),
mostly zeros, which Lava's Dense holds (the per-core synaptic memory decides whether it
fits: ``map``). The lateral term acts between the channels at one position: a block
recurrent weight, ``D[c, c']`` between ``(c, f)`` and ``(c', f)``, zero across bands. Then the
dense s2net fold (:func:`.s2net.fold_s2net_layer`) with the kernel's own norms (``||w_c||^2``
of the whole kernel, also at the edges where ``T``'s rows are shorter):

    V = v / (||w_c||^2 + eps),   dv = 1 - beta,   W' = (1 - beta) T / (||w_c||^2 + eps),
    R = -beta (D_block - diag) / (||w_c||^2 + eps),   rows / b_c so that vth = 1

Exact (the same spikes, float rounding aside) for ``reset = "zero"``; the paper's subtractive
reset and ``conv2d`` layers (time taps are synaptic delays) are refused, with the reason.
The input standardisation (``input_mean``, ``input_std``) folds into the first layer: its
columns divided by ``std``, a bias ``-W' mean / std``. The readout ``mean_t (W s_t + b)`` is
the spec's ``mean`` readout (a perfect integrator with bias ``b``); the LI readout its
``max`` readout, as for the dense networks (``models.to_spec.readout_layer``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConversionError
from ..models.to_spec import readout_layer
from ..netspec import LayerSpec, NetworkSpec
from .s2net import fold_s2net_layer


def conv1d_matrix(layer, bands: int) -> np.ndarray:
    """The conv1d layer's dense matrix [C F, C_in F] (float64), rows and columns channel-major."""
    w = layer.synapse.weight.detach().double()
    n = w.shape[1] * bands
    eye = torch.eye(n, dtype=torch.float64).reshape(n, 1, w.shape[1], bands)     # every unit input, one step
    with torch.no_grad():
        out = layer.convolve(eye, w)                                            # [C_in F, 1, C, F]
    return out.reshape(n, -1).t().numpy()


def _check(net) -> None:
    for k, layer in enumerate(net.layers):
        if layer.conv_kind != "conv1d":
            raise ConversionError(f"conv{k}", "conv2d layer", "its time taps are synaptic delays, which the "
                                  "deployment does not build yet (docs/s2net-conv.md)",
                                  remedy="train with conv = 'conv1d' to deploy now")
        if layer.neuron.reset != "zero":
            raise ConversionError(f"conv{k}", "s2net layer", "the paper's subtractive self-reset does not fold "
                                  "exactly onto Loihi's reset to zero", remedy="train with reset = 'zero'")


def conv_to_spec(net, dt: float) -> NetworkSpec:
    """The LIF NetworkSpec of a conv1d, reset-to-zero ConvSpikingNetwork (module docstring)."""
    _check(net)
    bands = net.bands
    layers = []
    mean = net.input_mean.detach().double().reshape(-1).numpy()
    std = net.input_std.detach().double().reshape(-1).numpy()
    for k, layer in enumerate(net.layers):
        p = layer.neuron.params()
        c = layer.channels * bands
        rows = lambda v: np.repeat(v.detach().double().numpy(), bands)   # noqa: E731 - per row c F + f
        d = None if p.d is None else np.kron(p.d.detach().double().numpy(), np.eye(bands))
        f = fold_s2net_layer(conv1d_matrix(layer, bands), float(p.beta), rows(p.b), d, None, reset="zero",
                             norm=rows(p.norm))
        weight, bias = f["weight"], np.zeros(c)
        if k == 0:                          # the input standardisation: columns / std, bias -W' mean / std
            weight = weight / std[None, :]
            bias = -weight @ mean
        layers.append(LayerSpec(f"conv{k}", weight.astype(np.float32), du=np.ones(c), dv=f["dv"], vth=f["vth"],
                                bias=bias.astype(np.float32),
                                rec_weight=None if f["rec_weight"] is None else f["rec_weight"].astype(np.float32)))
    readout, mode = readout_layer(net.readout)
    layers.append(readout)
    return NetworkSpec(input_size=net.in_channels * bands, layers=tuple(layers), readout=mode, dt=float(dt),
                       metadata={"source": "s2net conv1d (fold.s2net_conv)"})
