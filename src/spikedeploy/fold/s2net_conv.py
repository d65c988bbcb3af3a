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

A ``conv2d`` layer (causal in time) is one such matrix per time tap ``j``, read ``dilation_t
(kt - 1 - j)`` steps late: the taps side by side with their synaptic delays
(:mod:`spikedeploy.delays`; :func:`conv_taps`). Exact (the same spikes, float rounding aside)
for ``reset = "zero"``; the paper's subtractive reset is refused, with the reason. The input
standardisation (``input_mean``, ``input_std``) folds into the first layer: its columns divided
by ``std``, a bias ``-W' mean / std`` (refused before delayed taps when the mean is not zero),
or is left to the host (``standardise="host"``: graded input). The readout ``mean_t (W s_t + b)`` is
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


def conv_taps(layer, bands: int) -> tuple[tuple[int, ...], np.ndarray]:
    """``(delays, [T_0 | T_1 | ...])``: the layer's dense matrices [C F, C_in F] (float64, rows and
    columns channel-major) by synaptic delay, side by side (``spikedeploy.delays``). A unit input at
    step 0 reaches the outputs of step ``d`` through tap ``d``: conv1d has the one delay 0, conv2d
    ``dilation_t (kt - 1 - j)`` for its time tap ``j``."""
    w = layer.synapse.weight.detach().double()
    n = w.shape[1] * bands
    eye = torch.zeros(n, layer.delay + 1, w.shape[1], bands, dtype=torch.float64)
    eye[:, 0] = torch.eye(n, dtype=torch.float64).reshape(n, w.shape[1], bands)   # every unit input at step 0
    with torch.no_grad():
        out = layer.convolve(eye, w)                                            # [C_in F, delay + 1, C, F]
    kt = 1 if layer.conv_kind == "conv1d" else layer.kernel[0]
    delays = tuple(sorted(layer.dilation[0] * m for m in range(kt))) if kt > 1 else (0,)
    return delays, np.concatenate([out[:, d].reshape(n, -1).t().numpy() for d in delays], axis=1)


def conv1d_matrix(layer, bands: int) -> np.ndarray:
    """The conv1d layer's dense matrix [C F, C_in F] (float64), rows and columns channel-major."""
    return conv_taps(layer, bands)[1]


#: Where the input standardisation goes: folded into the first layer, or left to the host's encoder.
STANDARDISE = ("fold", "host")


def _check(net, standardise: str) -> None:
    if standardise not in STANDARDISE:
        raise ConversionError("input", "standardisation", f"unknown place {standardise!r}",
                              remedy=f"one of {', '.join(STANDARDISE)}")
    mean = net.input_mean.detach()
    for k, layer in enumerate(net.layers):
        if k == 0 and standardise == "fold" and layer.delay and bool((mean != 0).any()):
            raise ConversionError("conv0", "conv2d layer", "its input is standardised with a non-zero mean, which "
                                  "the model's causal padding sees as 0 and the deployed delayed taps as -mean/std "
                                  "in the first steps (no constant bias is exact)",
                                  remedy="standardise on the host (graded input on Loihi 2: standardise='host'), "
                                         "or train on inputs that need no mean (the spike presets)")
        if layer.neuron.reset != "zero":
            raise ConversionError(f"conv{k}", "s2net layer", "the paper's subtractive self-reset does not fold "
                                  "exactly onto Loihi's reset to zero", remedy="train with reset = 'zero'")


def conv_synapses(net) -> list[tuple[str, np.ndarray, np.ndarray | None, tuple[int, ...]]]:
    """Per conv layer ``(name, taps [C F, K C_in F], lateral block [C F, C F] or None, delays)``:
    the trained (unfolded) synapses in the dense form, whatever the reset (what counting needs)."""
    out = []
    for k, layer in enumerate(net.layers):
        delays, taps = conv_taps(layer, net.bands)
        p = layer.neuron.params()
        d = None if p.d is None else np.kron(p.d.detach().double().numpy(), np.eye(net.bands))
        out.append((f"conv{k}", taps, d, delays))
    return out


def conv_to_spec(net, dt: float, standardise: str = "fold") -> NetworkSpec:
    """The LIF NetworkSpec of a reset-to-zero ConvSpikingNetwork (module docstring). ``standardise``:
    ``"fold"`` the input standardisation into the first layer (the spec reads the raw input), or
    ``"host"`` (the spec reads standardised input, as a graded-input encoder sends it; the mean
    and std go into the spec's metadata)."""
    _check(net, standardise)
    bands = net.bands
    layers = []
    mean = net.input_mean.detach().double().reshape(-1).numpy()
    std = net.input_std.detach().double().reshape(-1).numpy()
    for k, ((name, taps, d, delays), layer) in enumerate(zip(conv_synapses(net), net.layers)):
        p = layer.neuron.params()
        c = layer.channels * bands
        rows = lambda v: np.repeat(v.detach().double().numpy(), bands)   # noqa: E731 - per row c F + f
        f = fold_s2net_layer(taps, float(p.beta), rows(p.b), d, None, reset="zero", norm=rows(p.norm))
        weight, bias = f["weight"], np.zeros(c)
        if k == 0 and standardise == "fold":     # the input standardisation: columns / std, bias -W' mean / std
            weight = weight / np.tile(std, len(delays))[None, :]
            bias = -weight @ np.tile(mean, len(delays))
        layers.append(LayerSpec(name, weight.astype(np.float32), du=np.ones(c), dv=f["dv"], vth=f["vth"],
                                bias=bias.astype(np.float32), delays=delays,
                                rec_weight=None if f["rec_weight"] is None else f["rec_weight"].astype(np.float32)))
    geometry = {f"conv{k}": {"in_channels": int(l.synapse.in_channels), "channels": int(l.channels),
                             "bands": int(bands), "kernel": int(l.kernel[-1]), "dilation": int(l.dilation[-1]),
                             "padding": int(l.dilation[-1] * (l.kernel[-1] - 1) // 2)}
                for k, l in enumerate(net.layers)}
    readout, mode = readout_layer(net.readout)
    layers.append(readout)
    return NetworkSpec(input_size=net.in_channels * bands, layers=tuple(layers), readout=mode, dt=float(dt),
                       metadata={"source": "s2net conv (fold.s2net_conv)", "input_standardise": standardise,
                                 "conv_layers": geometry,
                                 **({"input_mean": mean.tolist(), "input_std": std.tolist()}
                                    if standardise == "host" else {})})
