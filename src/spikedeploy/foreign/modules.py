"""``from_module``: a live snnTorch / norse / SpikingJelly network into a spikedeploy network.

The module is a sequence (``nn.Sequential``, norse's ``SequentialState``, nested ones
flattened) of ``nn.Linear -> neuron`` pairs, then optionally a last ``nn.Linear``::

    Linear(n_in, H1) -> neuron -> Linear(H1, H2) -> neuron -> ... [-> Linear(H_L, K)]

run once per time step on frames ``[batch, T, n_in]``. The logits are the mean over time
of the last Linear's output (the ``mean-linear`` readout), or, when the sequence ends with
a neuron layer, its firing rate (mean spikes over time: an identity ``mean-linear``
readout, so the class with the most spikes wins). ``nn.Dropout``, ``nn.Identity`` and
``nn.Flatten`` are skipped (identities in evaluation). Each neuron class is read by its
library's module (:mod:`.snntorch`, :mod:`.norse`, :mod:`.spikingjelly`; one registry
entry per class); a module of any other class is refused, naming it and its position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..data.shd import BinningConfig
from ..errors import ForeignModelError
from ..models.networks import NetworkConfig, build_network
from . import norse, snntorch, spikingjelly
from .base import Converted, finish, set_linear
from .neuron_form import NeuronForm

#: Neuron classes by qualified name -> reader (one registry line per library).
NEURONS = {**snntorch.NEURONS, **norse.NEURONS, **spikingjelly.NEURONS}
#: Modules that are identities in evaluation mode.
SKIPPED = (nn.Dropout, nn.Identity, nn.Flatten)


@dataclass(frozen=True)
class _Layer:
    where: str
    linear: nn.Linear
    neuron_where: str
    form: NeuronForm
    library: str


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _neuron_reader(m: nn.Module):
    for cls in type(m).__mro__:
        fn = NEURONS.get(_qualname(cls))
        if fn is not None:
            return fn, cls.__module__.split(".")[0]
    return None, None


def _flatten(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    if isinstance(module, nn.Sequential):
        out = []
        for name, child in module.named_children():
            out.extend(_flatten(child, f"{prefix}{name}."))
        return out
    return [(prefix.rstrip(".") or type(module).__name__, module)]


def _unsupported(where: str, m: nn.Module) -> ForeignModelError:
    known = sorted({q.split(".")[0] + "." + q.rsplit(".", 1)[1] for q in NEURONS})
    return ForeignModelError(f"module {where}", f"a {type(m).__name__} has no counterpart here",
                             remedy="build the network from nn.Linear and the supported neurons: "
                                    + ", ".join(known))


def _parse(module: nn.Module) -> tuple[list[_Layer], nn.Linear | None]:
    items = [(w, m) for w, m in _flatten(module) if not isinstance(m, SKIPPED)]
    layers: list[_Layer] = []
    i = 0
    while i < len(items):
        where, m = items[i]
        if not isinstance(m, nn.Linear):
            raise _unsupported(where, m) if _neuron_reader(m)[0] is None else ForeignModelError(
                f"module {where}", f"a {type(m).__name__} without an nn.Linear before it",
                remedy="each neuron layer reads the nn.Linear before it")
        if i + 1 == len(items):
            return layers, m
        n_where, n = items[i + 1]
        fn, library = _neuron_reader(n)
        if fn is None:
            raise _unsupported(n_where, n)
        layers.append(_Layer(where, m, n_where, fn(n, m.out_features, f"module {n_where}"), library))
        i += 2
    if not layers:
        raise ForeignModelError("module", "holds no nn.Linear -> neuron layer",
                                remedy="pass an nn.Sequential of nn.Linear and neuron modules")
    return layers, None


def _config(layers: list[_Layer], n_classes: int, readout: nn.Linear | None) -> NetworkConfig:
    kinds = {layer.form.kind for layer in layers}
    resets = {layer.form.reset for layer in layers}
    if len(kinds) > 1 or len(resets) > 1:
        raise ForeignModelError("module", f"its layers mix neuron forms ({sorted(kinds)}, resets {sorted(resets)}); "
                                          "a spikedeploy network has one", remedy="use one neuron type throughout")
    kind = kinds.pop()
    cuba = kind == "cuba-lif"
    return NetworkConfig(
        input_size=layers[0].linear.in_features, hidden=tuple(layer.linear.out_features for layer in layers),
        n_classes=n_classes, neuron=kind, recurrent=any(layer.form.rec_weight is not None for layer in layers),
        readout="mean-linear", synapse_bias=cuba, neuron_bias=True, reset=resets.pop(),
        learn_decays=False, learn_thresholds=False)


def _fill(layer, spec: _Layer, cuba: bool) -> None:
    f, lin = spec.form, spec.linear
    g = f.gain.unsqueeze(1)
    const = torch.zeros(lin.out_features, dtype=torch.float64)
    if lin.bias is not None:
        const = const + f.gain * lin.bias.detach().double()
    if f.rec_bias is not None:
        const = const + f.rec_bias
    set_linear(layer.synapse, g * lin.weight.detach().double(), const if cuba else None)
    if layer.recurrent is not None:
        rec = f.rec_weight if f.rec_weight is not None else torch.zeros(lin.out_features, lin.out_features)
        set_linear(layer.recurrent, rec)
    params = dict(dv=f.dv, vth=f.vth, bias=torch.zeros_like(const) if cuba else const)
    layer.neuron.set_neuron_params(**params, **({"du": f.du} if cuba else {}))


def from_module(module: nn.Module, *, time_steps: int | None = None,
                binning: BinningConfig | None = None) -> Converted:
    """Read ``module`` (module docstring) into a spikedeploy network whose forward pass on
    ``[batch, T, n_in]`` frames is the module's run step by step over T (notes name what
    differs). ``binning``: how its frames were made (recorded with the network; a bare
    ``time_steps`` records SHD's binning with that many frames)."""
    layers, readout = _parse(module)
    for a, b in zip(layers, layers[1:]):
        if b.linear.in_features != a.linear.out_features:
            raise ForeignModelError(f"module {b.where}", f"reads {b.linear.in_features} features but "
                                    f"{a.neuron_where} gives {a.linear.out_features}")
    n_classes = readout.out_features if readout is not None else layers[-1].linear.out_features
    config = _config(layers, n_classes, readout)
    net = build_network(config)
    for layer, spec in zip(net.layers, layers):
        _fill(layer, spec, config.neuron == "cuba-lif")
    size = layers[-1].linear.out_features
    if readout is not None:
        if readout.in_features != size:
            raise ForeignModelError("module readout", f"reads {readout.in_features} features, the last layer "
                                    f"gives {size}")
        set_linear(net.readout.synapse, readout.weight.detach().double())
        bias = readout.bias.detach() if readout.bias is not None else torch.zeros(n_classes)
    else:
        set_linear(net.readout.synapse, torch.eye(size, dtype=torch.float64))
        bias = torch.zeros(n_classes)
    with torch.no_grad():
        net.readout.bias.copy_(bias.float())
    if binning is None and time_steps is not None:
        binning = BinningConfig(n_steps=time_steps)
    return Converted(finish(net), "+".join(sorted({s.library for s in layers})), _layout(layers, readout),
                     binning, _notes(layers, readout, config))


def _layout(layers: list[_Layer], readout: nn.Linear | None) -> str:
    parts = [f"Linear({s.linear.in_features}, {s.linear.out_features}) -> {s.neuron_where}" for s in layers]
    tail = f" -> Linear({readout.in_features}, {readout.out_features})" if readout is not None else " (rate readout)"
    return "nn.Sequential: " + " -> ".join(parts) + tail


def _notes(layers: list[_Layer], readout: nn.Linear | None, config: NetworkConfig) -> tuple[str, ...]:
    notes = []
    if any(s.form.fires_at_equality for s in layers):
        notes.append("the source fires when v >= threshold; this network, like Loihi, when v > threshold "
                     "(they differ only where a voltage meets the threshold exactly)")
    if readout is None:
        notes.append("the sequence ends with a neuron layer: the logits are its firing rates (spikes / T)")
    if config.reset == "subtract":
        notes.append("reset by subtraction: `spikedeploy fold` turns it into Loihi's reset to zero (an "
                     "approximation, reported)")
    if config.synapse_bias:
        notes.append("biases before a synaptic current are a constant current: `spikedeploy fold` turns them "
                     "into a voltage bias (an approximation, reported)")
    return tuple(notes)
