"""Typed containers for counting a whole run: the layers counted and the per-layer table.

:class:`LayerWeights` is what the counter needs of a layer (its name, its weight
[out, in], the recurrent weight, whether it spikes, a GPN's gate weight before
folding); :func:`layers_of` reads it from a ``NetworkSpec``, from any object with a
``layers`` sequence of layer-like objects (``name``, ``weight``, optional
``rec_weight`` and ``spiking``/``vth``), or from such a sequence;
:func:`layers_from_model` reads it from a trained ``SpikingNetwork``.

:class:`RunCounts` holds the results of the four metrics for one run and gives
them as one row per layer (:class:`LayerRow`), as a JSON-ready dict, and as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..delays import NO_DELAYS
from ..errors import ConfigError
from .activity import (ActivationSparsityResult, LayerSpikes, NeuronUpdatesResult,
                       SpikeCountResult)
from .synops import GATES_SUFFIX, SynOpsResult


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """What counting needs of one layer. Weights are any array (float or integer)."""

    name: str
    weight: Any                  # [out, K in]: the taps of ``delays`` side by side (spikedeploy.delays)
    rec_weight: Any = None       # [out, out]
    spiking: bool = True
    gate_weight: Any = None      # GPN before folding: [4C, 2C] tensor or its shape
    delays: tuple[int, ...] = NO_DELAYS

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1]) // len(self.delays)

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


def _layer_like(obj: Any) -> LayerWeights:
    if isinstance(obj, LayerWeights):
        return obj
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], str):
        return LayerWeights(obj[0], obj[1])
    if not (hasattr(obj, "name") and hasattr(obj, "weight")):
        raise ConfigError("layers", f"cannot read a layer from {type(obj).__name__}",
                          remedy="pass a NetworkSpec, LayerWeights, (name, weight) pairs, or "
                                 "objects with name/weight[/rec_weight/spiking] attributes")
    if hasattr(obj, "spiking"):
        spiking = bool(obj.spiking)
    else:
        spiking = getattr(obj, "vth", True) is not None
    return LayerWeights(str(obj.name), obj.weight, getattr(obj, "rec_weight", None), spiking,
                        getattr(obj, "gate_weight", None), tuple(getattr(obj, "delays", NO_DELAYS)))


def layers_of(network: Any) -> tuple[LayerWeights, ...]:
    """The layers of a NetworkSpec (or an object with ``.layers``, or a sequence of layers)."""
    seq = network.layers if hasattr(network, "layers") else network
    if isinstance(seq, Mapping) or not isinstance(seq, Sequence) or isinstance(seq, str):
        raise ConfigError("layers", f"expected a sequence of layers, got {type(seq).__name__}")
    layers = tuple(_layer_like(l) for l in seq)
    if not layers:
        raise ConfigError("layers", "nothing to count: no layers")
    names = [l.name for l in layers]
    if len(set(names)) != len(names):
        raise ConfigError("layers", f"layer names must be unique, got {names}")
    return layers


def _linear_weight(module: Any, what: str) -> Any:
    weight = getattr(module, "weight", None)
    if weight is None:
        raise ConfigError(what, f"{type(module).__name__} has no weight")
    return weight.detach()


def layers_from_model(model: Any, names: Sequence[str] | None = None) -> tuple[LayerWeights, ...]:
    """The layers of a trained ``spikedeploy.models.SpikingNetwork``, read without changing it.

    Hidden layers (``model.layers``: ``synapse`` Linear, optional ``recurrent``
    Linear, a GPN's ``neuron.gates`` Linear, counted before folding) are spiking;
    ``model.readout.synapse`` is the non-spiking readout. Default names:
    ``hidden0``, ``hidden1``, ..., ``readout``. Synapse and gate biases are not
    counted (NeuroBench's rule).
    """
    hidden = list(getattr(model, "layers", ()))
    readout = getattr(model, "readout", None)
    if not hidden or readout is None or not hasattr(readout, "synapse"):
        raise ConfigError("model", f"{type(model).__name__} is not a SpikingNetwork "
                                   "(needs .layers with .synapse and .readout.synapse)",
                          remedy="pass a NetworkSpec or LayerWeights instead")
    if names is None:
        names = [f"hidden{k}" for k in range(len(hidden))] + ["readout"]
    names = list(names)
    if len(names) != len(hidden) + 1:
        raise ConfigError("names", f"{len(hidden) + 1} names needed (hidden layers + readout), "
                                   f"got {len(names)}")
    out = []
    for name, layer in zip(names, hidden):
        rec = getattr(layer, "recurrent", None)
        gates = getattr(getattr(layer, "neuron", None), "gates", None)
        out.append(LayerWeights(
            name, _linear_weight(layer.synapse, f"layer {name!r} synapse"),
            None if rec is None else _linear_weight(rec, f"layer {name!r} recurrent"), True,
            None if gates is None else _linear_weight(gates, f"layer {name!r} gates")))
    out.append(LayerWeights(names[-1], _linear_weight(readout.synapse, "readout synapse"),
                            spiking=False))
    return tuple(out)


@dataclass(frozen=True)
class LayerRow:
    """One layer of a run, per sample (means over the samples counted).

    SynOps columns sum the layer's connections: feed-forward, recurrent and (GPN
    before folding) gates. Spike columns and ``sparsity`` are None for a
    non-spiking layer (the readout). ``n_in``: the feed-forward weight's columns (a layer
    with delayed taps: every tap's, ``spikedeploy.delays``).
    """

    name: str
    n_in: int
    n_neurons: int
    spiking: bool
    recurrent: bool
    spikes_per_sample: float | None
    rate_per_step: float | None
    rate_hz: float | None
    effective_acs: float
    effective_macs: float
    dense_ops: float
    neuron_updates: float
    active_updates: float
    inactive_updates: float
    sparsity: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunCounts:
    """Everything counted for one run (every field exact and comparable with ``==``)."""

    layers: tuple[str, ...]
    spiking: tuple[bool, ...]
    recurrent: tuple[bool, ...]
    n_in: tuple[int, ...]
    dt: float | None
    inputs: LayerSpikes
    spikes: SpikeCountResult
    synops: SynOpsResult
    neuron_updates: NeuronUpdatesResult
    sparsity: ActivationSparsityResult

    @property
    def n_samples(self) -> int:
        return self.inputs.n_samples

    def _layer_synops(self, name: str) -> tuple[float, float, float]:
        entries = [e for k, e in self.synops.per_layer.items()
                   if k == name or k == name + GATES_SUFFIX]
        return (sum(e.effective_acs for e in entries), sum(e.effective_macs for e in entries),
                sum(e.dense_ops for e in entries))

    def rows(self) -> tuple[LayerRow, ...]:
        out = []
        for name, spiking, recurrent, n_in in zip(self.layers, self.spiking, self.recurrent,
                                                  self.n_in):
            acs, macs, dense = self._layer_synops(name)
            nu = self.neuron_updates.per_layer[name]
            sp = self.spikes.per_layer.get(name) if spiking else None
            out.append(LayerRow(
                name=name, n_in=n_in, n_neurons=nu.n_neurons, spiking=spiking, recurrent=recurrent,
                spikes_per_sample=None if sp is None else sp.spikes_per_sample,
                rate_per_step=None if sp is None else sp.rate_per_step,
                rate_hz=None if sp is None else sp.rate_hz,
                effective_acs=acs, effective_macs=macs, dense_ops=dense,
                neuron_updates=nu.updates_per_sample, active_updates=nu.active_per_sample,
                inactive_updates=nu.inactive_per_sample,
                sparsity=self.sparsity.per_layer[name].sparsity if spiking else None))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: totals per sample, the per-layer rows, and each metric's detail."""
        return {
            "n_samples": self.n_samples, "dt": self.dt,
            "totals_per_sample": {
                "input_spikes": self.inputs.spikes_per_sample,
                "spikes": self.spikes.spikes_per_sample,
                "effective_acs": self.synops.effective_acs,
                "effective_macs": self.synops.effective_macs,
                "dense_ops": self.synops.dense_ops,
                "neuron_updates": self.neuron_updates.updates_per_sample,
                "active_updates": self.neuron_updates.active_per_sample,
                "inactive_updates": self.neuron_updates.inactive_per_sample},
            "activation_sparsity": self.sparsity.sparsity,
            "rate_per_step": self.spikes.rate_per_step, "rate_hz": self.spikes.rate_hz,
            "layers": [r.to_dict() for r in self.rows()],
            "input": self.inputs.to_dict(),
            "synops": self.synops.to_dict(),
            "neuron_updates": self.neuron_updates.to_dict(),
            "spikes": self.spikes.to_dict(),
            "sparsity": self.sparsity.to_dict(),
        }

    def format_table(self) -> str:
        """A fixed-width text table, one line per layer plus the totals (per sample)."""
        head = (f"{'layer':<14}{'neurons':>8}{'spikes':>11}{'rate/step':>11}{'rate Hz':>10}"
                f"{'eff. ACs':>13}{'eff. MACs':>13}{'dense ops':>13}{'updates':>11}"
                f"{'active':>11}{'sparsity':>10}")
        lines = [f"{self.n_samples} samples, dt = {self.dt} s; counts per sample", head]

        def num(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        for r in self.rows():
            lines.append(f"{r.name:<14}{r.n_neurons:>8}{num(r.spikes_per_sample, '.1f'):>11}"
                         f"{num(r.rate_per_step, '.4f'):>11}{num(r.rate_hz, '.2f'):>10}"
                         f"{r.effective_acs:>13.0f}{r.effective_macs:>13.0f}{r.dense_ops:>13.0f}"
                         f"{r.neuron_updates:>11.0f}{r.active_updates:>11.0f}"
                         f"{num(r.sparsity, '.4f'):>10}")
        lines.append(f"{'total':<14}{'':>8}{self.spikes.spikes_per_sample:>11.1f}"
                     f"{self.spikes.rate_per_step:>11.4f}{num(self.spikes.rate_hz, '.2f'):>10}"
                     f"{self.synops.effective_acs:>13.0f}{self.synops.effective_macs:>13.0f}"
                     f"{self.synops.dense_ops:>13.0f}{self.neuron_updates.updates_per_sample:>11.0f}"
                     f"{self.neuron_updates.active_per_sample:>11.0f}{self.sparsity.sparsity:>10.4f}")
        return "\n".join(lines)
