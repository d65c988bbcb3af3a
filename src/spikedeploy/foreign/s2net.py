"""``--from s2net``: state dicts of s2net's ``SNN`` (romainzimmer/s2net, ``models.py``).

An ``SNN`` holds ``layers``, a list of spiking layers and a ``ReadoutLayer`` last:

- ``SpikingDenseLayer``: ``layers.i.w`` [n_in, C], ``layers.i.beta`` [1], ``layers.i.b`` [C]
  and, with ``recurrent=True``, ``layers.i.v`` [C, C] (``spk @ v``). It is this project's
  ``s2net`` neuron with the paper's subtractive reset (``synapse.weight = w^T``,
  ``recurrent.weight = v^T``); whether it has Deneve lateral connections is not stored
  (``--no-lateral`` for ``lateral_connections=False``; the source's default is on).
- ``ReadoutLayer`` with ``time_reduction="mean"``: ``layers.L.w`` [n_in, K], ``layers.L.b`` [K];
  logits ``mean_t(x_t w) / (||w_k||^2 + 1e-8) - b``, which is the ``mean-linear`` readout
  with weight ``w^T / (||w_k||^2 + 1e-8)`` and bias ``-b`` (exact).

Not read yet, each refused with its reason: the convolutional layers (``w`` of 3 or 4
dimensions; they come with the s2net convolution issue) and the readout with
``time_reduction="max"`` (``layers.L.beta``): its ``- b`` after the maximum over time has
no place in a leaky-integrator readout.

The input is whatever the source was fed (s2net's notebooks: mel spectrograms), so the
conversion records no binning.
"""

from __future__ import annotations

import torch

from ..models.networks import NetworkConfig, build_network
from .base import Converted, ForeignOptions, Reader, StateDict, finish, layer_count, set_linear

NAME = "s2net"
EPS = 1e-8


def _count(state: StateDict) -> int:
    return layer_count(state, lambda i: f"layers.{i}.w", first=0)


def detect(state: StateDict) -> str | None:
    n = _count(state)
    if n < 2 or not state.has(f"layers.{n - 1}.b"):
        return None
    kind = "convolutional" if state.tensors["layers.0.w"].ndim > 2 else "dense"
    return f"an s2net SNN ({n - 1} {kind} spiking layer(s) + readout)"


def convert(state: StateDict, options: ForeignOptions) -> Converted:
    n = _count(state)
    if n < 2:
        raise state.error("expected layers.0.w ... layers.L.w (spiking layers and a readout)",
                          remedy="an s2net SNN has at least one spiking layer and a ReadoutLayer")
    for i in range(n):
        w = state.tensors[f"layers.{i}.w"]
        if w.ndim != 2:
            raise state.error(f"a convolutional layer (w of shape {list(w.shape)}): not read yet", tensor=f"layers.{i}.w",
                              remedy="convert a network of SpikingDenseLayer layers; s2net's convolutions come "
                                     "with the s2net convolution issue")
    if state.has(f"layers.{n - 1}.beta"):
        raise state.error("the readout reduces time with 'max' (it has a beta): its '- b' after the maximum has "
                          "no place in a leaky-integrator readout", tensor=f"layers.{n - 1}.beta",
                          remedy="convert a model trained with ReadoutLayer(time_reduction='mean')")
    sizes = [int(state.tensors[f"layers.{i}.w"].shape[1]) for i in range(n)]
    recurrent = [state.has(f"layers.{i}.v") for i in range(n - 1)]
    if len(set(recurrent)) > 1:
        raise state.error(f"some layers are recurrent and some not ({recurrent}); this project's s2net networks "
                          "are one or the other", remedy="convert a network whose layers all have (or lack) v")
    input_size = int(state.tensors["layers.0.w"].shape[0])
    config = NetworkConfig(input_size=input_size, hidden=tuple(sizes[:-1]), n_classes=sizes[-1], neuron="s2net",
                           lateral=options.lateral, recurrent=recurrent[0], readout="mean-linear",
                           surrogate="sigmoid", s2net_reset="subtract")
    net = build_network(config)
    n_in = input_size
    for i, layer in enumerate(net.layers):
        c = sizes[i]
        set_linear(layer.synapse, state.get(f"layers.{i}.w", (n_in, c)).t())
        with torch.no_grad():
            layer.neuron.beta.copy_(torch.tensor(state.scalar(f"layers.{i}.beta")))
            layer.neuron.b.copy_(state.get(f"layers.{i}.b", (c,)).float())
        if recurrent[0]:
            set_linear(layer.recurrent, state.get(f"layers.{i}.v", (c, c)).t())
        n_in = c
    w = state.get(f"layers.{n - 1}.w", (n_in, sizes[-1]))
    norm = (w * w).sum(0)
    set_linear(net.readout.synapse, (w / (norm + EPS)).t())
    with torch.no_grad():
        net.readout.bias.copy_(-state.get(f"layers.{n - 1}.b", (sizes[-1],)).float())
    state.check_all_read("an s2net SNN of SpikingDenseLayer + ReadoutLayer(mean)")
    notes = ("whether the layers have lateral connections is not stored: converted with "
             f"lateral_connections={options.lateral}",)
    return Converted(finish(net), NAME, f"s2net SNN, {n - 1} dense layer(s) + mean readout", None, notes)


READER = Reader(NAME, "s2net (Zimmer et al.): SNN of SpikingDenseLayer + ReadoutLayer(time_reduction='mean')",
                detect, convert, "layers.0.w, layers.0.beta, layers.0.b, ..., layers.L.w, layers.L.b")
