"""The float network (a :class:`~spikedeploy.netspec.NetworkSpec`) in Lava's ``floating_pt`` models.

Lava's floating-point LIF computes, per step (``PyLifModelFloat`` /
``PyLifResetModelFloat``, lava-nc 0.10)::

    u = u * (1 - du) + a_in ;  v = v * (1 - dv) + u + bias_mant ;  s = v > vth ;  v = 0 where s

and its float Dense sends ``W @ s`` (ignoring ``weight_exp``), one step late. These are
the spec's own equations (``netspec``), so the float network runs in Lava as it is,
without quantisation: :class:`FloatNetwork` presents a spec to the existing builder
(:func:`spikedeploy.lava_backend.build.build_graph`, ``config="floating_pt"``) in the
shape of a :class:`~spikedeploy.quant.loihi_network.LoihiNetwork`, with parameters
chosen so that the builder's :func:`~spikedeploy.lava_backend.build.float_parameters`
gives back exactly the spec's values (float64):

    weight, rec_weight as they are (weight_exp 0) ; du_int = 4096 du - 1 ; dv_int = 4096 dv ;
    bias_mant = 64 bias (bias_exp 0) ; vth = the spec's vth (+inf for a non-spiking readout)

(every step is exact in float64: multiplying by powers of two and adding 1 to a
24-bit mantissa). Lava's recordings of v and u then come back x 64 (the builder's
unit for float runs); :func:`spec_units` divides that out exactly.

The neurons are grouped by their float ``(du, dv, vth)`` (one LIF process each, as
in fixed point). What differs from the PyTorch float model
(:class:`~spikedeploy.models.spec_network.SpecNetwork`) is arithmetic only: Lava
works in float64 and sums the synaptic input per connection process
(``weights[:, s].sum(axis=1)`` for each source group, then the ports add up), a
different summation order than a matrix product; ``docs/lava-backend.md`` reports
the agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError
from ..netspec import LayerSpec, NetworkSpec
from ..quant.fixed_point import default_spec
from ..quant.loihi_network import DecayGroup


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """One spec layer in the builder's LoihiLayer shape (float64 arrays; see the module docstring)."""

    name: str
    weight: np.ndarray
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    spiking: bool
    rec_weight: np.ndarray | None = None
    weight_exp: int = 0
    bias_exp: int = 0
    rec_weight_exp: int | None = None
    num_weight_bits: int = 8
    sign_mode: str = "mixed"          # unused by the float models
    rec_sign_mode: str | None = None

    @classmethod
    def from_spec(cls, layer: LayerSpec) -> "FloatLayer":
        fp = default_spec()
        unity = float(fp.decay_unity)
        n = layer.n_out
        vth = np.full(n, np.inf) if layer.vth is None else layer.vth.astype(np.float64)
        return cls(name=layer.name, weight=layer.weight.astype(np.float64),
                   du=layer.du.astype(np.float64) * unity - fp.current_decay_offset,
                   dv=layer.dv.astype(np.float64) * unity - fp.voltage_decay_offset,
                   vth=vth, bias_mant=layer.bias.astype(np.float64) * float(1 << fp.activation_shift),
                   spiking=layer.spiking,
                   rec_weight=None if layer.rec_weight is None else layer.rec_weight.astype(np.float64),
                   rec_sign_mode=None if layer.rec_weight is None else "mixed")

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def recurrent(self) -> bool:
        return self.rec_weight is not None

    @property
    def rec_exp(self) -> int:
        return 0

    def decay_groups(self) -> tuple[DecayGroup, ...]:
        """Neurons sharing the float (du, dv, vth), in order of their first neuron."""
        keys = np.stack([self.du, self.dv, self.vth], axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        groups = []
        for g in np.argsort(first):
            idx = np.flatnonzero(inverse == g).astype(np.int64)
            idx.setflags(write=False)
            i0 = int(idx[0])
            groups.append(DecayGroup(self.du[i0], self.dv[i0], self.vth[i0], idx))
        return tuple(groups)


@dataclass(frozen=True, eq=False)
class FloatNetwork:
    """A NetworkSpec in the shape the Lava builder and runner read (``floating_pt`` only)."""

    spec_network: NetworkSpec
    layers: tuple[FloatLayer, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: NetworkSpec) -> "FloatNetwork":
        if not isinstance(spec, NetworkSpec):
            raise ConfigError("spec", f"expected a NetworkSpec, got {type(spec).__name__}")
        for layer in spec.layers[:-1]:
            if not layer.spiking:
                raise ConfigError(f"layer {layer.name!r}", "a non-spiking layer feeds another layer; Lava's "
                                  "layers pass spikes", remedy="only the last layer may be non-spiking")
        return cls(spec, tuple(FloatLayer.from_spec(l) for l in spec.layers),
                   {"readout": spec.readout, "dt": spec.dt})

    @property
    def input_size(self) -> int:
        return int(self.spec_network.input_size)

    @property
    def output_size(self) -> int:
        return self.layers[-1].n_out

    @property
    def latency(self) -> int:
        return len(self.layers)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers)

    @property
    def spec(self):
        """The fixed-point spec the builder takes its float unit (2^activation_shift) from."""
        return default_spec()

    def layer(self, name: str) -> FloatLayer:
        for l in self.layers:
            if l.name == name:
                return l
        raise ConfigError("layer", f"no layer named {name!r}", valid=self.layer_names)

    def depth(self, name: str) -> int:
        return self.layer_names.index(self.layer(name).name) + 1


def spec_units(trace: np.ndarray) -> np.ndarray:
    """A float run's recorded v or u (the builder's x 64 units) in the spec's units (exact)."""
    return np.asarray(trace, dtype=np.float64) / float(1 << default_spec().activation_shift)
