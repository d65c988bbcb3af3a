"""``--from imp-snns``: state dicts of Ponghiran & Roy's models (wponghiran/imp-snns-for-sl).

``improved_spiking_model_v2.py`` (and ``_v1.py``, the same without the recurrent
``linear_us``), with batch norm and their multi-bit spikes (``use_bn``, ``do_edat``)::

    keys                                   spikedeploy pr-v2 network
    fsq_x.*                                the input quantiser (``input_quant``)
    linear_ws.i.weight [2H, n_in]          layers[i].synapse.weight
    bn_zs.i.*, bn_cs.i.* [H]               layers[i].neuron.norm (one BatchNorm1d(2H): z, then c)
    linear_us.i.weight [2H, H] (v2)        layers[i].neuron.recurrent.weight (v1: zeros)
    fsq_hs.i.* (tracked_min/max, ...)      layers[i].neuron.quantizer (the range tracker)
    final_linear.weight [K, H], final_bn.* readout: the batch norm's affine map folded into a
                                           mean-linear readout (weight a W, bias b)

per step: ``z = sigmoid(BN_z(W_z x) + U_z y)``, ``c = relu(BN_c(W_c x) + U_c y)``,
``h = (1 - z) c + z h``, ``y = Q(a)`` of the accumulated ``a = a + h - y`` (this project's
pr-v2 step; :mod:`spikedeploy.models.neurons.pr_rnn`). The models label frames (TIMIT,
LibriSpeech); the converted readout's per-step output ``a W y_t + b`` is their per-frame
output before the log-softmax, and its logits are that output's mean over time.

Not stored, so given as options: the quantiser's ``threshold`` (``--threshold``; the cfg's
``threshold``); its bits (``--n-bits``) are read back from the stored scale when it can
(``scale = 2^(bits - 1) (1 - 1e-4) / max|range|``) and checked against the option. The
traditional model (``traditional_spiking_model.py``: ``taus``, ``bn_ws``) and models
without ``do_edat`` (no quantisers: not spiking) are refused with the reason.
"""

from __future__ import annotations

import math

import torch

from ..models.networks import NetworkConfig, build_network
from .base import Converted, ForeignOptions, Reader, StateDict, finish, layer_count, set_linear

NAME = "imp-snns"
_BN = ("weight", "bias", "running_mean", "running_var")
_FSQ = ("ema_momentum", "tracked_min_biased", "tracked_min", "tracked_max_biased", "tracked_max", "iter_count",
        "scale", "zero_point")


def _layers(state: StateDict) -> int:
    return layer_count(state, lambda i: f"linear_ws.{i}.weight", first=0)


def detect(state: StateDict) -> str | None:
    n = _layers(state)
    if n == 0 or not state.has("final_linear.weight"):
        return None
    if state.has("taus.0"):
        return f"the traditional spiking model ({n} layer(s))"
    return f"the improved spiking model {'v2' if state.has('linear_us.0.weight') else 'v1'} ({n} layer(s))"


def _n_bits(state: StateDict, prefix: str, given: int | None) -> int:
    """The quantiser's bits: read back from its stored scale and range, checked against ``given``."""
    lo, hi, scale = (state.scalar(f"{prefix}.{k}") for k in ("tracked_min", "tracked_max", "scale"))
    m = max(abs(lo), abs(hi))
    found = None
    if m > 0 and scale > 0:
        bits = math.log2(scale * m / (1 - 1e-4)) + 1
        if abs(bits - round(bits)) < 1e-3:
            found = round(bits)
    if given is not None and found is not None and given != found:
        raise state.error(f"--n-bits {given} given, but the stored scale and range say {found} bits",
                          tensor=f"{prefix}.scale", remedy=f"give --n-bits {found} (the cfg's n_bits)")
    if given is None and found is None:
        raise state.error("the quantiser's bits cannot be read back from the stored scale",
                          tensor=f"{prefix}.scale", remedy="give --n-bits, the n_bits of the model's cfg")
    return given if given is not None else found


def _tracker(state: StateDict, prefix: str, tracker) -> None:
    with torch.no_grad():
        for ours, theirs in (("min_biased", "tracked_min_biased"), ("max_biased", "tracked_max_biased"),
                             ("min", "tracked_min"), ("max", "tracked_max"), ("count", "iter_count")):
            getattr(tracker, ours).copy_(torch.tensor(state.scalar(f"{prefix}.{theirs}")))
    state.mark_read(*(f"{prefix}.{k}" for k in _FSQ))


def _norm(state: StateDict, i: int, size: int, norm) -> None:
    with torch.no_grad():
        for k in _BN:
            z, c = state.get(f"bn_zs.{i}.{k}", (size,)), state.get(f"bn_cs.{i}.{k}", (size,))
            getattr(norm, k).copy_(torch.cat([z, c]).float())
    state.mark_read(f"bn_zs.{i}.num_batches_tracked", f"bn_cs.{i}.num_batches_tracked")


def _refusals(state: StateDict, n: int) -> None:
    if state.has("taus.0"):
        raise state.error("the traditional spiking model (taus, bn_ws) has no counterpart here yet: its "
                          "current-based neuron with multi-bit outputs is not one of this project's neurons",
                          tensor="taus.0", remedy="convert an improved spiking model (v1 or v2)")
    if not state.has("fsq_x.scale"):
        raise state.error("no quantisers (fsq_x, fsq_hs): a model trained without do_edat emits real values, "
                          "not spikes", remedy="convert a model trained with do_edat = True")
    if not state.has("bn_zs.0.weight"):
        raise state.error("no batch norm (bn_zs): the authors' code supports only use_bn = True",
                          remedy="convert a model trained with use_bn = True")


def convert(state: StateDict, options: ForeignOptions) -> Converted:
    n = _layers(state)
    if n == 0 or not state.has("final_linear.weight"):
        raise state.error("expected linear_ws.0.weight ... and final_linear.weight",
                          remedy="an imp-snns state dict holds linear_ws.*, bn_zs.*, bn_cs.*, fsq_*, final_*")
    _refusals(state, n)
    if options.threshold is None:
        raise state.error("the quantiser's threshold is not stored in the file",
                          remedy="give --threshold, the threshold of the model's cfg (e.g. 3 for nb6th3)")
    bits = _n_bits(state, "fsq_x", options.n_bits)
    v2 = state.has("linear_us.0.weight")
    size = int(state.tensors["linear_ws.0.weight"].shape[0]) // 2
    n_in = int(state.tensors["linear_ws.0.weight"].shape[1])
    n_out = int(state.tensors["final_linear.weight"].shape[0])
    config = NetworkConfig(input_size=n_in, hidden=(size,) * n, n_classes=n_out, neuron="pr-v2", readout="mean-linear",
                           batch_norm=True, quant_bits=bits, quant_threshold=options.threshold,
                           quant_momentum=state.scalar("fsq_x.ema_momentum"), input_quant=True)
    net = build_network(config)
    _tracker(state, "fsq_x", net.input_quant.quantizer)
    width = n_in
    for i, layer in enumerate(net.layers):
        set_linear(layer.synapse, state.get(f"linear_ws.{i}.weight", (2 * size, width)))
        _norm(state, i, size, layer.neuron.norm)
        u = state.get(f"linear_us.{i}.weight", (2 * size, size)) if v2 else torch.zeros(2 * size, size)
        set_linear(layer.neuron.recurrent, u)
        _n_bits(state, f"fsq_hs.{i}", bits)
        _tracker(state, f"fsq_hs.{i}", layer.neuron.quantizer)
        width = size
    w = state.get("final_linear.weight", (n_out, size))
    bn = {k: state.get(f"final_bn.{k}", (n_out,)) for k in _BN}
    state.mark_read("final_bn.num_batches_tracked")
    a = bn["weight"] / torch.sqrt(bn["running_var"] + 1e-5)
    set_linear(net.readout.synapse, a[:, None] * w)
    with torch.no_grad():
        net.readout.bias.copy_((bn["bias"] - bn["running_mean"] * a).float())
    layout = f"the improved spiking model {'v2' if v2 else 'v1'} ({n} x {size}, {bits}-bit spikes)"
    state.check_all_read(layout)
    notes = ("the source labels every frame: the converted readout's per-step output is its per-frame output "
             "before the log-softmax, and the logits are their mean over time",)
    return Converted(finish(net), NAME, layout, None, notes)


READER = Reader(NAME, "Ponghiran & Roy's improved spiking models v1 and v2 (batch norm, multi-bit spikes)",
                detect, convert, "fsq_x.*, linear_ws.i.weight, bn_zs.i.*, bn_cs.i.*, [linear_us.i.weight], "
                "fsq_hs.i.*, final_linear.weight, final_bn.*")
