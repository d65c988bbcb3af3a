"""What the neurons did: spikes and firing rates, activation sparsity, neuron updates.

Each metric is a small class with a ``reset() / update(...) / compute()`` life
cycle; ``update`` takes plain tensors (torch or numpy, any dtype) shaped
[batch, time, neurons] and may be called once per batch (same layer name:
samples accumulate). Results are frozen dataclasses of exact integers; rates are
those integers divided once, so two runs with equal spikes give equal rates.

Definitions:

- **spike**: a non-zero output of a spiking layer at one step (a graded spike
  counts once, whatever its payload).
- **firing rate**: spikes / (neurons x steps x samples) in spikes per neuron per
  step; in Hz, that divided by ``dt`` (seconds per step).
- **activation sparsity** (NeuroBench): zero outputs / all outputs of the spiking
  layers, pooled over layers, steps and samples.
- **neuron update**: one neuron at one step (every neuron is updated every step).
  A neuron is **active** at step t when at least one non-zero input reaches it
  through a non-zero weight at t (feed-forward, or recurrent from its layer's
  output at t - 1), or, when its state trace is given, when its state entering
  step t (after step t - 1; zero before the first step) is non-zero. Otherwise it
  is **inactive**: nothing arrives and there is nothing to decay. Without a state
  trace the active count is a lower bound (input events only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from ..errors import ConfigError, ShapeMismatchError
from ._arrays import (as_matrix, as_sequence, count_true, events_per_neuron, nonzero,
                      shift_one_step)


def _check_dt(dt: float | None) -> float | None:
    if dt is not None and not (float(dt) > 0):
        raise ConfigError("dt", f"must be positive seconds per step, got {dt}")
    return None if dt is None else float(dt)


# ---------------------------------------------------------------------------- spikes
@dataclass(frozen=True)
class LayerSpikes:
    """Spikes of one layer over all samples it saw (exact integers)."""

    name: str
    n_neurons: int
    n_samples: int
    sample_steps: int            # steps summed over samples (T x B for equal lengths)
    spikes: int                  # non-zero outputs over all samples, steps and neurons
    per_sample: tuple[int, ...]  # spikes of each sample
    per_neuron: tuple[int, ...]  # spikes of each neuron, all samples together
    dt: float | None = None

    @property
    def neuron_steps(self) -> int:
        return self.sample_steps * self.n_neurons

    @property
    def spikes_per_sample(self) -> float:
        return self.spikes / self.n_samples

    @property
    def rate_per_step(self) -> float:
        """Spikes per neuron per step."""
        return self.spikes / self.neuron_steps

    @property
    def rate_hz(self) -> float | None:
        """Mean firing rate in Hz (None when ``dt`` is unknown)."""
        if self.dt is None:
            return None
        return self.spikes / (self.neuron_steps * self.dt)

    @property
    def silent_neurons(self) -> int:
        """Neurons that never spiked in any sample."""
        return sum(1 for c in self.per_neuron if c == 0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_neurons": self.n_neurons, "n_samples": self.n_samples,
                "sample_steps": self.sample_steps, "spikes": self.spikes,
                "spikes_per_sample": self.spikes_per_sample, "rate_per_step": self.rate_per_step,
                "rate_hz": self.rate_hz, "silent_neurons": self.silent_neurons, "dt": self.dt}


@dataclass(frozen=True)
class SpikeCountResult:
    per_layer: Mapping[str, LayerSpikes]
    dt: float | None = None

    @property
    def spikes(self) -> int:
        return sum(l.spikes for l in self.per_layer.values())

    @property
    def spikes_per_sample(self) -> float:
        return sum(l.spikes_per_sample for l in self.per_layer.values())

    @property
    def rate_per_step(self) -> float:
        """All layers pooled: spikes / neuron-steps."""
        steps = sum(l.neuron_steps for l in self.per_layer.values())
        return self.spikes / steps if steps else 0.0

    @property
    def rate_hz(self) -> float | None:
        if self.dt is None:
            return None
        steps = sum(l.neuron_steps for l in self.per_layer.values())
        return self.spikes / (steps * self.dt) if steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"spikes": self.spikes, "spikes_per_sample": self.spikes_per_sample,
                "rate_per_step": self.rate_per_step, "rate_hz": self.rate_hz, "dt": self.dt,
                "per_layer": {k: v.to_dict() for k, v in self.per_layer.items()}}


class SpikeCount:
    """Spikes and firing rates per layer. ``dt`` (seconds per step) gives rates in Hz."""

    def __init__(self, dt: float | None = None):
        self.dt = _check_dt(dt)
        self.reset()

    def reset(self) -> "SpikeCount":
        self._layers: dict[str, dict[str, Any]] = {}
        return self

    def update(self, layer: str, spikes: Any) -> "SpikeCount":
        s = nonzero(as_sequence(spikes, f"layer {layer!r} spikes"))
        b, t, n = (int(v) for v in s.shape)
        entry = self._layers.get(layer)
        if entry is None:
            entry = self._layers[layer] = {"n": n, "sample_steps": 0, "per_sample": [],
                                           "per_neuron": torch.zeros(n, dtype=torch.int64)}
        elif entry["n"] != n:
            raise ShapeMismatchError(f"layer {layer!r} neurons", entry["n"], n)
        entry["sample_steps"] += b * t
        entry["per_sample"].extend(count_true(s, keep=0).tolist())
        entry["per_neuron"] += count_true(s, keep=2)
        return self

    def compute(self) -> SpikeCountResult:
        per_layer = {
            name: LayerSpikes(name=name, n_neurons=e["n"], n_samples=len(e["per_sample"]),
                              sample_steps=e["sample_steps"], spikes=sum(e["per_sample"]),
                              per_sample=tuple(e["per_sample"]),
                              per_neuron=tuple(e["per_neuron"].tolist()), dt=self.dt)
            for name, e in self._layers.items()}
        return SpikeCountResult(per_layer=per_layer, dt=self.dt)


# ------------------------------------------------------------------- activation sparsity
@dataclass(frozen=True)
class LayerSparsity:
    name: str
    zeros: int
    outputs: int

    @property
    def sparsity(self) -> float:
        return self.zeros / self.outputs if self.outputs else 0.0


@dataclass(frozen=True)
class ActivationSparsityResult:
    """NeuroBench's activation sparsity: zeros over all outputs, pooled over layers."""

    per_layer: Mapping[str, LayerSparsity]

    @property
    def zeros(self) -> int:
        return sum(l.zeros for l in self.per_layer.values())

    @property
    def outputs(self) -> int:
        return sum(l.outputs for l in self.per_layer.values())

    @property
    def sparsity(self) -> float:
        return self.zeros / self.outputs if self.outputs else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"sparsity": self.sparsity, "zeros": self.zeros, "outputs": self.outputs,
                "per_layer": {k: {"zeros": v.zeros, "outputs": v.outputs, "sparsity": v.sparsity}
                              for k, v in self.per_layer.items()}}


class ActivationSparsity:
    """Zero outputs over all outputs of the spiking layers (pass only spiking layers)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> "ActivationSparsity":
        self._layers: dict[str, list[int]] = {}
        return self

    def update(self, layer: str, outputs: Any) -> "ActivationSparsity":
        s = nonzero(as_sequence(outputs, f"layer {layer!r} outputs"))
        entry = self._layers.setdefault(layer, [0, 0])
        nonzeros = int(torch.count_nonzero(s))
        entry[0] += s.numel() - nonzeros
        entry[1] += s.numel()
        return self

    def compute(self) -> ActivationSparsityResult:
        return ActivationSparsityResult(
            {k: LayerSparsity(k, zeros=v[0], outputs=v[1]) for k, v in self._layers.items()})


# ----------------------------------------------------------------------- neuron updates
@dataclass(frozen=True)
class LayerNeuronUpdates:
    """Neuron updates of one layer: ``total`` = neurons x steps x samples."""

    name: str
    n_neurons: int
    n_samples: int
    total: int
    active: int
    per_sample_active: tuple[int, ...]
    state_given: bool  # False: ``active`` counts input events only (a lower bound)

    @property
    def inactive(self) -> int:
        return self.total - self.active

    @property
    def updates_per_sample(self) -> float:
        return self.total / self.n_samples

    @property
    def active_per_sample(self) -> float:
        return self.active / self.n_samples

    @property
    def inactive_per_sample(self) -> float:
        return self.inactive / self.n_samples

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_neurons": self.n_neurons, "n_samples": self.n_samples,
                "updates_per_sample": self.updates_per_sample,
                "active_per_sample": self.active_per_sample,
                "inactive_per_sample": self.inactive_per_sample,
                "total": self.total, "active": self.active, "state_given": self.state_given}


@dataclass(frozen=True)
class NeuronUpdatesResult:
    per_layer: Mapping[str, LayerNeuronUpdates]

    @property
    def updates_per_sample(self) -> float:
        return sum(l.updates_per_sample for l in self.per_layer.values())

    @property
    def active_per_sample(self) -> float:
        return sum(l.active_per_sample for l in self.per_layer.values())

    @property
    def inactive_per_sample(self) -> float:
        return sum(l.inactive_per_sample for l in self.per_layer.values())

    def to_dict(self) -> dict[str, Any]:
        return {"updates_per_sample": self.updates_per_sample,
                "active_per_sample": self.active_per_sample,
                "inactive_per_sample": self.inactive_per_sample,
                "per_layer": {k: v.to_dict() for k, v in self.per_layer.items()}}


def _state_nonzero(state: Any, layer: str, shape: tuple[int, ...]) -> torch.Tensor:
    """OR of ``!= 0`` over one state tensor or a sequence of them (e.g. (u, v))."""
    parts = state if isinstance(state, (tuple, list)) else [state]
    if not parts:
        raise ConfigError(f"layer {layer!r} state", "an empty sequence of state traces")
    mask = torch.zeros(shape, dtype=torch.bool)
    for k, part in enumerate(parts):
        p = as_sequence(part, f"layer {layer!r} state[{k}]", features=shape[2])
        if tuple(p.shape) != shape:
            raise ShapeMismatchError(f"layer {layer!r} state[{k}]", shape, tuple(p.shape))
        mask |= nonzero(p)
    return mask


def active_neurons(inputs: Any, weight: Any, *, rec_inputs: Any = None, rec_weight: Any = None,
                   state: Any | Sequence[Any] = None, layer: str = "layer") -> torch.Tensor:
    """Boolean [B, T, out]: which neurons are active at each step (module docstring)."""
    w = as_matrix(weight, f"layer {layer!r} weight")
    x = as_sequence(inputs, f"layer {layer!r} inputs", features=int(w.shape[1]))
    active = events_per_neuron(nonzero(x), nonzero(w)) > 0
    n_out = int(w.shape[0])
    if (rec_inputs is None) != (rec_weight is None):
        raise ConfigError(f"layer {layer!r}", "rec_inputs and rec_weight go together")
    if rec_weight is not None:
        r = as_matrix(rec_weight, f"layer {layer!r} rec_weight")
        if tuple(r.shape) != (n_out, n_out):
            raise ShapeMismatchError(f"layer {layer!r} rec_weight", (n_out, n_out), tuple(r.shape))
        s = as_sequence(rec_inputs, f"layer {layer!r} rec_inputs", features=n_out)
        if s.shape[:2] != x.shape[:2]:
            raise ShapeMismatchError(f"layer {layer!r} rec_inputs [B, T]", tuple(x.shape[:2]),
                                     tuple(s.shape[:2]))
        active |= events_per_neuron(shift_one_step(nonzero(s)), nonzero(r)) > 0
    if state is not None:
        active |= shift_one_step(_state_nonzero(state, layer, tuple(active.shape)))
    return active


class NeuronUpdates:
    """Neuron updates per layer, split into active and inactive (module docstring)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> "NeuronUpdates":
        self._layers: dict[str, dict[str, Any]] = {}
        return self

    def update(self, layer: str, inputs: Any, weight: Any, *, rec_inputs: Any = None,
               rec_weight: Any = None, state: Any | Sequence[Any] = None) -> "NeuronUpdates":
        """``state``: the layer's state after each step, [B, T, out] (or a tuple, e.g. (u, v))."""
        active = active_neurons(inputs, weight, rec_inputs=rec_inputs, rec_weight=rec_weight,
                                state=state, layer=layer)
        b, t, n = (int(v) for v in active.shape)
        entry = self._layers.get(layer)
        if entry is None:
            entry = self._layers[layer] = {"n": n, "total": 0, "active": [],
                                           "state_given": state is not None}
        elif entry["n"] != n:
            raise ShapeMismatchError(f"layer {layer!r} neurons", entry["n"], n)
        elif entry["state_given"] != (state is not None):
            raise ConfigError(f"layer {layer!r} state", "given for some batches and not others",
                              remedy="pass the state trace for every batch of a layer, or never")
        entry["total"] += b * t * n
        entry["active"].extend(count_true(active, keep=0).tolist())
        return self

    def compute(self) -> NeuronUpdatesResult:
        return NeuronUpdatesResult({
            name: LayerNeuronUpdates(name=name, n_neurons=e["n"], n_samples=len(e["active"]),
                                     total=e["total"], active=sum(e["active"]),
                                     per_sample_active=tuple(e["active"]),
                                     state_given=e["state_given"])
            for name, e in self._layers.items()})
