"""s2net's convolutional network as a Loihi LIF network (``NetworkSpec``), exactly.

A ``conv1d`` layer (:class:`~spikedeploy.models.conv.S2NetConv`, convolution over frequency)
is a linear map of its input frame, so it is written as its equivalent dense matrix: the
Toeplitz matrix ``T`` [C F, C_in F] (rows ``c F + f``: channel ``c`` at band ``f``; made by
applying the convolution to every unit input, so padding and dilation are the layer's own),
mostly zeros, which Lava's Dense holds (the per-core synaptic memory decides whether it
fits: ``map``). The lateral term acts between the channels at one position: a block
recurrent weight, ``D[c, c']`` between ``(c, f)`` and ``(c', f)``, zero across bands. Then the
dense s2net fold (:mod:`.s2net`) with the kernel's own norms (``||w_c||^2`` of the whole
kernel, also at the edges where ``T``'s rows are shorter):

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
from ..models.neurons.s2net import EPS
from ..models.to_spec import readout_layer
from ..netspec import LayerSpec, NetworkSpec
from .s2net import DV_MIN, VTH_MIN


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
    layers, bias0 = [], None
    mean = net.input_mean.detach().double().reshape(-1).numpy()
    std = net.input_std.detach().double().reshape(-1).numpy()
    for k, layer in enumerate(net.layers):
        p = layer.neuron.params()
        beta, c = float(p.beta), layer.channels
        norm = np.repeat(p.norm.detach().double().numpy(), bands)               # per row c F + f
        scale = 1.0 / (norm + EPS)
        weight = (1.0 - beta) * scale[:, None] * conv1d_matrix(layer, bands)
        if k == 0:
            bias0 = -(weight / std[None, :]) @ mean
            weight = weight / std[None, :]
        rec = None
        if p.d is not None:
            d = p.d.detach().double().numpy().copy()
            np.fill_diagonal(d, 0.0)
            rec = -beta * scale[:, None] * np.kron(d, np.eye(bands))
        th = np.repeat(np.maximum(p.b.detach().double().numpy(), VTH_MIN), bands)
        dv = float(np.clip(1.0 - beta, DV_MIN, 1.0 - DV_MIN))
        bias = np.zeros(c * bands) if k else bias0
        layers.append(LayerSpec(f"conv{k}", (weight / th[:, None]).astype(np.float32), du=np.ones(c * bands),
                                dv=np.full(c * bands, dv), vth=np.ones(c * bands), bias=(bias / th).astype(np.float32),
                                rec_weight=None if rec is None else (rec / th[:, None]).astype(np.float32)))
    readout, mode = readout_layer(net.readout)
    layers.append(readout)
    return NetworkSpec(input_size=net.in_channels * bands, layers=tuple(layers), readout=mode, dt=float(dt),
                       metadata={"source": "s2net conv1d (fold.s2net_conv)"})
