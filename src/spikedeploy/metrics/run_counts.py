"""Count a whole run, layer by layer, with one piece of code for every backend.

The float PyTorch run, the integer emulator run and the Lava run each give the
network input [B, T, in] and, per spiking layer, its spikes [B, T, n]; this module
turns them into the same :class:`~spikedeploy.metrics.records.RunCounts`
(spikes, rates, SynOps, neuron updates, activation sparsity). Counts are exact
integers, so runs with equal spikes give equal tables (``==``), whatever dtype or
backend produced the spikes.

Layer k reads layer k-1's spikes (the first layer reads the input) at the same
step (a layer with delayed taps, ``spikedeploy.delays``, also reads them ``d`` steps late:
each spike is counted once per tap within the sample's window); a recurrent layer also
reads its own spikes of the previous step. A run
whose outputs lag (Lava's Dense adds one step per layer) must be re-aligned by
the caller before counting. The non-spiking readout needs no spike tensor; its
voltage may be given as its state (a spike trace recorded for it is accepted when all
zero).

GPN layers before folding: give their gate weight (``LayerWeights.gate_weight``
or ``gate_weights={name: W or shape}``) and the gate Linear is counted too.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from ..delays import delayed_inputs
from ..errors import ConfigError, ShapeMismatchError
from ._arrays import as_sequence
from .activity import ActivationSparsity, NeuronUpdates, SpikeCount
from .records import LayerWeights, RunCounts, layers_of
from .synops import DecidePer, SynapticOperations

INPUT_NAME = "input"


class RunCounter:
    """Accumulates the counts of a run batch by batch; ``compute()`` gives :class:`RunCounts`.

    ``network``: a NetworkSpec, an object with ``layers``, or a sequence of layers
    (see :func:`~spikedeploy.metrics.records.layers_of`). ``dt`` defaults to the
    network's ``dt`` when it has one.
    """

    def __init__(self, network: Any, *, dt: float | None = None,
                 gate_weights: Mapping[str, Any] | None = None,
                 decide_per: DecidePer = "sample_step"):
        layers = list(layers_of(network))
        gate_weights = dict(gate_weights or {})
        unknown = set(gate_weights) - {l.name for l in layers}
        if unknown:
            raise ConfigError("gate_weights", f"no layers named {sorted(unknown)}",
                              valid=[l.name for l in layers])
        for k, l in enumerate(layers):
            if l.name in gate_weights:
                layers[k] = LayerWeights(l.name, l.weight, l.rec_weight, l.spiking,
                                         gate_weights[l.name], l.delays)
        self.layers: tuple[LayerWeights, ...] = tuple(layers)
        if self.layers[0].n_in <= 0:
            raise ConfigError("layers", "the first layer has no inputs")
        for prev, cur in zip(self.layers, self.layers[1:]):
            if cur.n_in != prev.n_out:
                raise ShapeMismatchError(f"layer {cur.name!r} input", prev.n_out, cur.n_in)
            if not prev.spiking:
                raise ConfigError(f"layer {prev.name!r}", "a non-spiking layer feeds another layer",
                                  remedy="only the last layer (the readout) may be non-spiking")
        if INPUT_NAME in {l.name for l in self.layers}:
            raise ConfigError("layers", f"the name {INPUT_NAME!r} is reserved for the network input")
        if dt is None:
            dt = getattr(network, "dt", None)
        self.dt = dt
        self._spikes = SpikeCount(dt)
        self._inputs = SpikeCount(dt)
        self._synops = SynapticOperations(decide_per)
        self._updates = NeuronUpdates()
        self._sparsity = ActivationSparsity()

    def reset(self) -> "RunCounter":
        for m in (self._spikes, self._inputs, self._synops, self._updates, self._sparsity):
            m.reset()
        return self

    def update(self, inputs: Any, spikes: Mapping[str, Any], *,
               states: Mapping[str, Any] | None = None,
               gate_inputs: Mapping[str, Any] | None = None) -> "RunCounter":
        """Count one batch.

        ``inputs`` [B, T, in]; ``spikes[name]`` [B, T, n] for every spiking layer;
        ``states[name]`` optionally the layer's state after each step ([B, T, n] or a
        tuple such as (u, v)), which makes the active/inactive split exact;
        ``gate_inputs[name]`` optionally a GPN layer's recorded ``[v_{t-1}, x_t]``.
        """
        states = dict(states or {})
        gate_inputs = dict(gate_inputs or {})
        names = {l.name for l in self.layers}
        for what, given in (("spikes", spikes), ("states", states), ("gate_inputs", gate_inputs)):
            extra = set(given) - names
            if extra:
                raise ConfigError(what, f"no layers named {sorted(extra)}", valid=sorted(names))
        x = as_sequence(inputs, "network input", features=self.layers[0].n_in)
        self._inputs.update(INPUT_NAME, x)
        bt = tuple(x.shape[:2])
        for layer in self.layers:
            out = None
            if layer.spiking:
                if layer.name not in spikes:
                    raise ConfigError("spikes", f"missing the spikes of layer {layer.name!r}",
                                      remedy="pass spikes[name] = [B, T, n] for every spiking layer")
                out = as_sequence(spikes[layer.name], f"layer {layer.name!r} spikes",
                                  features=layer.n_out)
                if tuple(out.shape[:2]) != bt:
                    raise ShapeMismatchError(f"layer {layer.name!r} spikes [B, T]", bt,
                                             tuple(out.shape[:2]))
            elif layer.name in spikes:
                # Backends may record a (silent) spike trace for the readout too; accept it
                # when it is all zero, refuse a readout that spiked.
                silent = as_sequence(spikes[layer.name], f"layer {layer.name!r} spikes",
                                     features=layer.n_out)
                if bool(torch.count_nonzero(silent)):
                    raise ConfigError("spikes", f"the non-spiking layer {layer.name!r} spiked",
                                      remedy="its threshold was crossed (an overflow of the "
                                             "readout); check the quantised readout")
            rec = (out, layer.rec_weight) if layer.rec_weight is not None else (None, None)
            if layer.rec_weight is not None and out is None:
                raise ConfigError(f"layer {layer.name!r}",
                                  "a recurrent layer must be spiking to be counted")
            if layer.gate_weight is not None:
                if rec[1] is not None:
                    raise ConfigError(f"layer {layer.name!r}",
                                      "a GPN layer with a recurrent weight is not supported")
                self._synops.update_gpn(layer.name, x, layer.weight, layer.gate_weight,
                                        gate_inputs=gate_inputs.get(layer.name))
            else:
                if layer.name in gate_inputs:
                    raise ConfigError("gate_inputs", f"layer {layer.name!r} has no gate weight")
                self._synops.update(layer.name, delayed_inputs(x, layer.delays), layer.weight,
                                    rec_inputs=rec[0], rec_weight=rec[1])
            self._updates.update(layer.name, delayed_inputs(x, layer.delays), layer.weight, rec_inputs=rec[0],
                                 rec_weight=rec[1], state=states.get(layer.name))
            if out is not None:
                self._spikes.update(layer.name, out)
                self._sparsity.update(layer.name, out)
                x = out
        return self

    def compute(self) -> RunCounts:
        inputs = self._inputs.compute().per_layer.get(INPUT_NAME)
        if inputs is None:
            raise ConfigError("run", "nothing counted yet", remedy="call update() with a batch first")
        return RunCounts(
            layers=tuple(l.name for l in self.layers),
            spiking=tuple(l.spiking for l in self.layers),
            recurrent=tuple(l.rec_weight is not None for l in self.layers),
            n_in=tuple(l.n_in * len(l.delays) for l in self.layers),    # weight columns: every tap
            dt=self.dt, inputs=inputs, spikes=self._spikes.compute(),
            synops=self._synops.compute(), neuron_updates=self._updates.compute(),
            sparsity=self._sparsity.compute())


def count_run(network: Any, inputs: Any, spikes: Mapping[str, Any], *, dt: float | None = None,
              states: Mapping[str, Any] | None = None,
              gate_weights: Mapping[str, Any] | None = None,
              gate_inputs: Mapping[str, Any] | None = None,
              decide_per: DecidePer = "sample_step") -> RunCounts:
    """Count one run in one call (see :class:`RunCounter`)::

        counts = count_run(spec, x, {"hidden": s_hidden})
        counts.rows()[0].rate_hz, counts.synops.effective_acs, counts.format_table()
    """
    return RunCounter(network, dt=dt, gate_weights=gate_weights, decide_per=decide_per).update(
        inputs, spikes, states=states, gate_inputs=gate_inputs).compute()


__all__ = ["INPUT_NAME", "RunCounter", "count_run"]
