"""A framework-neutral description of a deployable spiking network (float).

This is the hand-over point between the stages: trained PyTorch models are read
into a :class:`NetworkSpec`; the NIR exporter writes one, the NIR loader reads
one (from our graphs or any other framework's); the Loihi quantiser turns one
into integers. It is plain data (numpy arrays and strings), validated on
construction.

The dynamics are discrete, one step of ``dt`` seconds, and are exactly Loihi's
neuron in floating point (see ``docs/formats.md``)::

    x_t = W @ in_t  (+ W_rec @ s_{t-1} when rec_weight is set)
    u_t = (1 - du) * u_{t-1} + x_t
    v_t = (1 - dv) * v_{t-1} + u_t + bias
    s_t = v_t > vth ;  v_t = 0 where s_t                       (spiking layers)

``du = 1`` clears the current every step (a plain LIF); a non-spiking layer
(``vth is None``) is a leaky integrator whose voltage is the output. With
``du = 1, dv = 0`` a non-spiking layer sums ``W s_t + bias`` over time, which is
the GPN paper's "mean over time of a linear layer" readout (``readout="mean"``
divides the final voltage by the number of steps).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .delays import NO_DELAYS, check_delays, taps
from .errors import ConfigError, ShapeMismatchError

#: How the logits are read from the last (non-spiking) layer's voltage trace.
READOUTS = ("last", "mean", "max")


class LayerStack:
    """Lookups over an ordered ``layers`` tuple of named layers, shared by the float spec,
    the integer network and what Lava is given: names, a layer by name, depths."""

    layers: tuple[Any, ...]

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def latency(self) -> int:
        """Steps by which the last layer lags the input in Lava: one per Dense."""
        return len(self.layers)

    def layer(self, name: str) -> Any:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError("layer", f"no layer named {name!r}", valid=self.layer_names)

    def depth(self, name: str) -> int:
        """1 for the first layer: the number of Dense delays between the input and ``name``."""
        return self.layer_names.index(self.layer(name).name) + 1


def _as_vector(name: str, layer: str, value, n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0:
        arr = np.full(n, float(arr), dtype=np.float32)
    if arr.shape != (n,):
        raise ShapeMismatchError(f"layer {layer!r} field {name}", (n,), arr.shape)
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"layer {layer!r} field {name}", "contains NaN or inf",
                          remedy="retrain or repair the model; non-finite parameters cannot be deployed")
    return arr


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One synapse + neuron layer. Arrays are float32; per-neuron fields have shape [out].

    ``delays``: the feed-forward weight's taps (``spikedeploy.delays``): ``weight`` is
    ``[out, K in]``, the block ``k`` reading the input ``delays[k]`` steps late."""

    name: str
    weight: np.ndarray
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray | None
    bias: np.ndarray | None = None
    rec_weight: np.ndarray | None = None
    delays: tuple[int, ...] = NO_DELAYS

    def __post_init__(self) -> None:
        w = np.asarray(self.weight, dtype=np.float32)
        if w.ndim != 2:
            raise ShapeMismatchError(f"layer {self.name!r} weight", "[out, in]", w.shape)
        if not np.all(np.isfinite(w)):
            raise ConfigError(f"layer {self.name!r} field weight", "contains NaN or inf",
                              remedy="retrain or repair the model; non-finite weights cannot be deployed")
        n = w.shape[0]
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "delays", check_delays(f"layer {self.name!r}", self.delays, w.shape[1]))
        for name in ("du", "dv"):
            arr = _as_vector(name, self.name, getattr(self, name), n)
            if np.any(arr < 0) or np.any(arr > 1):
                raise ConfigError(f"layer {self.name!r} field {name}", "decays must lie in [0, 1]")
            object.__setattr__(self, name, arr)
        if self.vth is not None:
            vth = _as_vector("vth", self.name, self.vth, n)
            if np.any(vth <= 0):
                raise ConfigError(f"layer {self.name!r} field vth", "thresholds must be positive")
            object.__setattr__(self, "vth", vth)
        bias = np.zeros(n, dtype=np.float32) if self.bias is None else self.bias
        object.__setattr__(self, "bias", _as_vector("bias", self.name, bias, n))
        if self.rec_weight is not None:
            r = np.asarray(self.rec_weight, dtype=np.float32)
            if r.shape != (n, n):
                raise ShapeMismatchError(f"layer {self.name!r} rec_weight", (n, n), r.shape)
            if not np.all(np.isfinite(r)):
                raise ConfigError(f"layer {self.name!r} field rec_weight", "contains NaN or inf")
            object.__setattr__(self, "rec_weight", r)

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1]) // len(self.delays)

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def delayed(self) -> bool:
        return self.delays != NO_DELAYS

    def taps(self) -> list[tuple[int, np.ndarray]]:
        """``[(delay, W_k [out, in])]``, one per tap."""
        return taps(self.weight, self.delays)

    @property
    def spiking(self) -> bool:
        return self.vth is not None

    @property
    def recurrent(self) -> bool:
        return self.rec_weight is not None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not self.delayed:
            d.pop("delays")
        return {k: (list(v) if k == "delays" else v) for k, v in d.items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LayerSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError("layer", f"unknown fields {sorted(unknown)}", valid=sorted(known))
        # vth absent means a non-spiking layer (to_dict drops None fields).
        return cls(**{k: d[k] for k in known if k in d}, **({} if "vth" in d else {"vth": None}))


@dataclass(frozen=True, eq=False)
class NetworkSpec(LayerStack):
    """An ordered stack of layers; the last one is the (non-spiking) readout."""

    input_size: int
    layers: tuple[LayerSpec, ...]
    readout: str = "last"
    dt: float = 1e-3
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ConfigError("layers", "a network needs at least one layer")
        if self.readout not in READOUTS:
            raise ConfigError("readout", f"unknown readout {self.readout!r}", valid=READOUTS)
        if not self.dt > 0:
            raise ConfigError("dt", f"must be positive, got {self.dt}")
        size = int(self.input_size)
        for layer in self.layers:
            if layer.n_in != size:
                raise ShapeMismatchError(f"layer {layer.name!r} input", size, layer.n_in)
            size = layer.n_out
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ConfigError("layers", f"layer names must be unique, got {names}")

    @property
    def output_size(self) -> int:
        return self.layers[-1].n_out

    def to_dict(self) -> dict[str, Any]:
        return {"input_size": int(self.input_size), "readout": self.readout, "dt": float(self.dt),
                "metadata": dict(self.metadata), "layers": [l.to_dict() for l in self.layers]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NetworkSpec":
        return cls(input_size=int(d["input_size"]), readout=str(d.get("readout", "last")),
                   dt=float(d.get("dt", 1e-3)), metadata=dict(d.get("metadata", {})),
                   layers=tuple(LayerSpec.from_dict(l) for l in d["layers"]))
