"""``--from hr-gpn-snn``: state dicts saved by the GPN authors' code (hrje123/hr-GPN-SNN).

Their ``src/model.py`` networks, ``SNN_base_1_1024`` and ``SNN_base_3_1024``, are
``fc1 -> sn1 -> dropout -> ... -> fc<L+1>``; the prediction is the mean over the T steps
of the last Linear's output, which is this project's ``mean-linear`` readout. The layout
(how many ``fcN`` keys, their shapes) gives the depth and widths; the neuron
(``core/neurons.py``) shows in the ``snN.*`` keys:

=======  =========================  ============================================================
neuron   keys                       spikedeploy form (exact in evaluation mode)
=======  =========================  ============================================================
GPN      ``snN.ln.weight/bias``     ``gpn`` (the same equations; ``ln`` is ``gates``)
PLIF     ``snN.w`` (scalar)         ``lif``: ``dv = sigmoid(w)``, synapse scaled by ``dv``
RLIF     ``snN.fc_U.weight/bias``   ``cuba-lif``: ``du = 1 - alpha``, ``dv = 1 - beta``, synapse
                                    and recurrent weight scaled by ``1 - beta``, their biases a
                                    synapse bias (alpha = beta = 0.2, the source's constants)
LIF      none (``--neuron LIF``)    ``lif``: ``dv = 1 / tau``, synapse scaled by ``1 / tau``
IF       none (``--neuron IF``)     ``lif``: ``dv = 0``
=======  =========================  ============================================================

The source's constants: ``v_th = 0.5``, ``tau = 5`` (``--tau``, ``--v-th`` when a run
changed them), reset to ``v_reset = 0``, ATan surrogate. In evaluation mode the GPN's
reset value and initial voltage are 0 and dropout is off, as here.

Two differences the conversion cannot remove, both named in the notes: the LIF-family
neurons fire when ``v >= v_th`` (SpikingJelly's heaviside) where Loihi's fire when
``v > v_th`` (they differ only when a voltage equals the threshold exactly), and the
floats are rounded differently (``v + (x - v) / tau`` against ``(1 - dv) v + x / tau``).
An RLIF layer's biases are a constant input current filtered by the current decay,
which ``spikedeploy fold`` turns into a voltage bias (an approximation it reports).

Their input binning (``core/audio_dataset.py``) is the ``hr-gpn-snn`` binning convention
(:mod:`spikedeploy.data.shd`): T frames over 1 s, so ``--time-steps`` is required.
"""

from __future__ import annotations

import math

import torch

from ..data.shd import BinningConfig
from ..models.networks import NetworkConfig, build_network
from .base import Converted, ForeignOptions, Reader, StateDict, finish, layer_count, set_linear

NAME = "hr-gpn-snn"
#: RLIF's current and voltage decay factors (``core/neurons.py``: alpha = beta = 0.2).
RLIF_ALPHA = RLIF_BETA = 0.2
NEURONS = ("GPN", "PLIF", "RLIF", "LIF", "IF")
_GLIF_KEYS = ("alpha", "beta", "gamma", "tau", "Vth", "leak", "reVth", "conduct")


def _fc(k: int) -> str:
    return f"fc{k}.weight"


#: Each neuron's keys under ``snN.`` (LIF and IF have none).
_KEYS = {"GPN": {"ln.weight", "ln.bias"}, "PLIF": {"w"}, "RLIF": {"fc_U.weight", "fc_U.bias"}}


def _neuron_of(state: StateDict, k: int) -> str | None:
    """The neuron kind layer ``k`` (1-based) shows in its keys (None: LIF or IF, no keys;
    ``GLIF``; ``?key,...``: keys no neuron has). A neuron missing one of its keys is named
    by the lookup that needs it."""
    prefix = f"sn{k}."
    keys = {key[len(prefix):] for key in state.tensors if key.startswith(prefix)}
    if not keys:
        return None
    if keys & set(_GLIF_KEYS):
        return "GLIF"
    for kind, own in _KEYS.items():
        if keys & own:
            return kind if keys <= own else "?" + ",".join(sorted(keys - own))
    return "?" + ",".join(sorted(keys))


def detect(state: StateDict) -> str | None:
    n_fc = layer_count(state, _fc)
    if n_fc < 2 or not state.has("fc1.bias"):
        return None
    kinds = {_neuron_of(state, k) for k in range(1, n_fc)}
    if len(kinds) != 1:
        return None
    kind = kinds.pop() or "LIF or IF"
    width = int(state.tensors["fc1.weight"].shape[0])
    return f"SNN_base_{n_fc - 1}_{width} with {kind} neurons"


def _neuron(state: StateDict, n_hidden: int, options: ForeignOptions) -> str:
    kinds = [_neuron_of(state, k) for k in range(1, n_hidden + 1)]
    if len(set(kinds)) != 1:
        raise state.error(f"the layers' neuron keys disagree ({kinds}): hr-GPN-SNN networks use one neuron")
    kind = kinds[0]
    if kind == "GLIF":
        raise state.error("GLIF neurons (snN.alpha, .tau, .conduct, ...) have no counterpart here",
                          remedy="convert a network of GPN, PLIF, RLIF, LIF or IF neurons")
    if kind is not None and kind.startswith("?"):
        raise state.error(f"unknown neuron keys under sn1: {kind[1:]}",
                          remedy=f"hr-gpn-snn neurons are {', '.join(NEURONS)}")
    if kind is None:
        if options.neuron not in ("LIF", "IF"):
            raise state.error("the layers hold no neuron parameters: a LIF or an IF network, which the keys "
                              "cannot tell apart", remedy="give --neuron LIF or --neuron IF")
        return options.neuron
    if options.neuron is not None and options.neuron != kind:
        raise state.error(f"--neuron {options.neuron} given, but the keys show {kind} neurons",
                          remedy=f"leave --neuron out or give --neuron {kind}")
    return kind


def convert(state: StateDict, options: ForeignOptions) -> Converted:
    n_fc = layer_count(state, _fc)
    if n_fc < 2:
        raise state.error("no fc1.weight / fc2.weight keys: not an hr-GPN-SNN network",
                          remedy="hr-gpn-snn state dicts hold fc1.*, sn1.*, ..., fc<L+1>.*")
    if options.time_steps is None:
        raise state.error("the number of time steps is not stored in the file",
                          remedy="give --time-steps T, the -T the model was trained with (hr-GPN-SNN's "
                                 "default is 20 for SHD)")
    kind = _neuron(state, n_fc - 1, options)
    sizes, n_in = [], None
    for k in range(1, n_fc + 1):
        w = state.get(_fc(k), (None, n_in))
        n_in = int(w.shape[1]) if n_in is None else n_in
        sizes.append(int(w.shape[0]))
        n_in = sizes[-1]
    input_size = int(state.tensors["fc1.weight"].shape[1])
    net = build_network(_config(kind, input_size, tuple(sizes[:-1]), sizes[-1]))
    for k, layer in enumerate(net.layers, start=1):
        _hidden(state, k, kind, layer, options)
    w = state.get(_fc(n_fc))
    b = state.get(f"fc{n_fc}.bias", (sizes[-1],))
    set_linear(net.readout.synapse, w)
    with torch.no_grad():
        net.readout.bias.copy_(b.float())
    state.check_all_read(f"hr-GPN-SNN SNN_base_{n_fc - 1} with {kind} neurons")
    notes = [] if kind == "GPN" else [
        f"{kind} neurons fire when v >= v_th; Loihi's, and this network's, when v > v_th (equal only "
        "where a voltage meets the threshold exactly)"]
    if kind == "RLIF":
        notes.append("the RLIF biases are a constant current through the current decay: `spikedeploy fold` "
                     "turns them into a voltage bias (an approximation, reported)")
    binning = BinningConfig(n_steps=options.time_steps, duration=1.0, binary=False, pool=1,
                            n_channels=input_size, convention="hr-gpn-snn")
    return Converted(finish(net), NAME, f"SNN_base_{n_fc - 1}_{sizes[0]} with {kind} neurons", binning,
                     tuple(notes))


def _config(kind: str, input_size: int, hidden: tuple[int, ...], n_classes: int) -> NetworkConfig:
    common = dict(input_size=input_size, hidden=hidden, n_classes=n_classes, readout="mean-linear",
                  dropout=0.25, surrogate="atan")
    if kind == "GPN":
        return NetworkConfig(neuron="gpn", synapse_bias=True, **common)
    if kind == "RLIF":
        return NetworkConfig(neuron="cuba-lif", recurrent=True, synapse_bias=True, neuron_bias=False,
                             learn_decays=False, learn_thresholds=False, **common)
    return NetworkConfig(neuron="lif", synapse_bias=False, neuron_bias=True, learn_thresholds=False,
                         learn_decays=kind == "PLIF", **common)


def _hidden(state: StateDict, k: int, kind: str, layer, options: ForeignOptions) -> None:
    size = layer.size
    w = state.get(_fc(k))
    b = state.get(f"fc{k}.bias", (size,))
    if kind == "GPN":
        set_linear(layer.synapse, w, b)
        set_linear(layer.neuron.gates, state.get(f"sn{k}.ln.weight", (4 * size, 2 * size)),
                   state.get(f"sn{k}.ln.bias", (4 * size,)))
        return
    if kind == "RLIF":
        g = 1.0 - RLIF_BETA
        set_linear(layer.synapse, g * w, g * (b + state.get(f"sn{k}.fc_U.bias", (size,))))
        set_linear(layer.recurrent, g * state.get(f"sn{k}.fc_U.weight", (size, size)))
        layer.neuron.set_neuron_params(du=1.0 - RLIF_ALPHA, dv=1.0 - RLIF_BETA, vth=options.v_th)
        return
    if kind == "PLIF":
        dv = 1.0 / (1.0 + math.exp(-state.scalar(f"sn{k}.w")))
    elif kind == "LIF":
        dv = 1.0 / float(options.tau)
    else:
        dv = 0.0
    gain = 1.0 if kind == "IF" else dv
    set_linear(layer.synapse, gain * w)
    layer.neuron.set_neuron_params(dv=dv, vth=options.v_th, bias=gain * b)


READER = Reader(NAME, "the GPN authors' hr-GPN-SNN (SNN_base_1_1024, SNN_base_3_1024; GPN, PLIF, RLIF, LIF, IF)",
                detect, convert, "fc1.weight, fc1.bias, sn1.*, ..., fc<L+1>.weight, fc<L+1>.bias")
