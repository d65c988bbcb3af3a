"""The pr-v2 layer of a Loihi 2 integer network: its gate computed, its outputs graded spikes.

Ponghiran & Roy's pr-v2 neuron (:mod:`spikedeploy.models.neurons.pr_rnn`) keeps a gated
current, integrates it and emits the integrated value quantised to signed multi-bit
levels, subtracting what it emitted. On Loihi 1 (``fold --target loihi1``) the gate
becomes a constant and the levels binary spikes. On Loihi 2 the neuron is a program of
its own (Loihi 2's neurons are microcoded) and its outputs graded spikes, so this module
keeps both. Per neuron and step, all integers (``>>`` an arithmetic shift, floor)::

    a_f = scale(W_f x, wf_exp) + scale(U_f y_prev, uf_exp) + b_f         (Q12: 4096 = 1.0)
    a_c = scale(W_c x, wc_exp) + scale(U_c y_prev, uc_exp) + b_c         (V units)
    f   = clip(a_f + 2048, 0, 4096)             hard sigmoid x / 6 + 1/2 (the 1/6 is in W_f, U_f, b_f)
    c   = max(a_c, 0)                           the candidate's ReLU
    i   = clip24((f i + (4096 - f) c) >> 12)    I = F I + (1 - F) C
    v   = clip24(v + i)                         V += I
    q   = sign(v) min(|v| >> L, q_max) ;  q = 0 where |q| <= threshold
    v   = v - (q << L)                          V -= Y (soft reset by the emitted value)

``x`` is the previous layer's output (binary spikes for the first layer, graded payloads
``q`` otherwise), ``y_prev`` the layer's own payloads of the step before; one payload level
is ``2^L`` V units. Every matrix is a Lava ``Dense`` (8-bit weights on Dense's grid with
its own exponent; graded sources with ``num_message_bits``); the gates, products and the
quantiser are the neuron's program (its Lava process: :mod:`spikedeploy.lava_backend.procs.loihi2_neurons`).
The network (:class:`~spikedeploy.quant.loihi2_network.Loihi2Network`) ends in a non-spiking
Lava LIF readout reading the last layer's payloads.

Against the float pr-v2 network the differences are: the sigmoid becomes a hard sigmoid
(slope 1/6, saturating at +-3, like ``torch.nn.Hardsigmoid``), weights are 8-bit, the
gate has 12 bits, V has ``L`` bits below a level, and the batch norm (evaluation mode) is
folded into the weights and biases. :func:`pr_graded_step` is the one definition of the
neuron: the emulator and the Lava process model both call it.

Timing, as Lava runs it: each Dense delivers one step late, so with the network's
layers at depths 1, 2, ... the stream layout of :class:`~spikedeploy.quant.emulator.StreamLayout`
applies. At a reset step the neuron clears ``i`` and ``v`` and drops its recurrent input
(the payloads of the previous sample), so a stream's windows equal independent runs
with no gap between samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from ..errors import ConfigError, ShapeMismatchError
from ..hardware import FixedPointSpec
from . import fixed_point as fx
from .loihi_network import (_check_range, _check_weight_grid, _int_array, _int_scalar, fields_from_dict,
                            fields_to_dict)

#: 1.0 of the gate (Q12) and its half (the hard sigmoid's value at 0).
GATE_ONE, GATE_HALF, GATE_SHIFT = 4096, 2048, 12
#: The four matrices of a layer: (weight field, exponent field, which pre-activation, recurrent).
MATRICES = (("wf", "wf_exp", "f", False), ("wc", "wc_exp", "c", False),
            ("uf", "uf_exp", "f", True), ("uc", "uc_exp", "c", True))


def pr_graded_step(i, v, a_f, a_c, p: "PrGradedLayer", state_bits: int = 24):
    """One step of the neuron (module docstring) on numpy arrays or torch tensors (int64):
    the pre-activations without biases in, ``(i, v, q)`` out."""
    xp = torch if isinstance(v, torch.Tensor) else np
    bf, bc = (torch.tensor(np.asarray(b), device=v.device) if xp is torch else b for b in (p.bf, p.bc))
    f = xp.clip(a_f + bf + GATE_HALF, 0, GATE_ONE)
    c = xp.clip(a_c + bc, 0, None)
    i = fx.clip_symmetric((f * i + (GATE_ONE - f) * c) >> GATE_SHIFT, state_bits)
    v = fx.clip_symmetric(v + i, state_bits)
    mag = xp.clip(xp.abs(v) >> p.level_exp, None, p.q_max)
    q = xp.where(mag > p.threshold, xp.sign(v) * mag, 0 * mag)
    return i, v - (q << p.level_exp), q


@dataclass(frozen=True, eq=False)
class PrGradedLayer:
    """One pr-v2 layer on Loihi 2: four Dense matrices and the neuron's per-neuron biases and
    quantiser (module docstring). ``bits``: the payload width, levels ``|q| <= 2^(bits-1) - 1``."""

    kind: ClassVar[str] = "pr-v2"

    name: str
    wf: np.ndarray
    wf_exp: int
    wc: np.ndarray
    wc_exp: int
    uf: np.ndarray
    uf_exp: int
    uc: np.ndarray
    uc_exp: int
    bf: Any
    bc: Any
    level_exp: int
    bits: int
    threshold: int
    num_weight_bits: int = 8

    def __post_init__(self) -> None:
        name, put = self.name, lambda k, val: object.__setattr__(self, k, val)
        if not isinstance(name, str) or not name:
            raise ConfigError("layer name", f"must be a non-empty string, got {name!r}")
        for key in ("wf_exp", "wc_exp", "uf_exp", "uc_exp", "level_exp", "bits", "threshold", "num_weight_bits"):
            put(key, _int_scalar(name, key, getattr(self, key)))
        for key in ("wf", "wc", "uf", "uc"):
            put(key, _int_array(name, key, getattr(self, key), ndim=2))
        n = self.wf.shape[0]
        for key, shape in (("wc", self.wf.shape), ("uf", (n, n)), ("uc", (n, n))):
            if getattr(self, key).shape != shape:
                raise ShapeMismatchError(f"layer {name!r} {key}", shape, getattr(self, key).shape)
        for key in ("bf", "bc"):
            arr = _int_array(name, key, np.broadcast_to(np.asarray(getattr(self, key)), (n,)).copy()).astype(np.int64)
            arr.setflags(write=False)
            put(key, arr)
        self.validate(fx.default_spec())

    def validate(self, spec: FixedPointSpec) -> None:
        """Every field against ``spec``'s widths; QuantizationError names the layer and field."""
        name = self.name
        for key, exp, _, _ in MATRICES:
            _check_weight_grid(name, key, getattr(self, key), self.num_weight_bits, spec)
            _check_range(name, exp, np.asarray(getattr(self, exp)), spec.weight_exp_min, spec.weight_exp_max,
                         "the weight exponent range", remedy="rescale the weights so the exponent fits")
        lo, hi = fx.int_range(spec.activation_bits)
        for key in ("bf", "bc"):
            _check_range(name, key, getattr(self, key), lo, hi, f"{spec.activation_bits}-bit pre-activations")
        _check_range(name, "bits", np.asarray(self.bits), 2, spec.state_bits, "payload widths",
                     remedy="payloads at most as wide as the neuron state")
        _check_range(name, "threshold", np.asarray(self.threshold), 0, self.q_max - 1, "levels below q_max")
        _check_range(name, "level_exp", np.asarray(self.level_exp), 0, spec.state_bits - self.bits,
                     "level exponents that leave the payload inside the state")

    @property
    def n_in(self) -> int:
        return int(self.wf.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.wf.shape[0])

    @property
    def q_max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def spiking(self) -> bool:
        return True

    @property
    def out_bits(self) -> int:
        """The payload width of what the next layer receives (graded outputs)."""
        return self.bits

    @property
    def rec_bits(self) -> int:
        """The payload width of what the layer's recurrent connections carry (its own outputs)."""
        return self.bits

    def connections(self) -> list[tuple[str, np.ndarray, int, bool]]:
        """``(target, weight, exponent, recurrent)`` per Dense: what the emulator and Lava wire up."""
        return [(which, getattr(self, key), getattr(self, exp), rec) for key, exp, which, rec in MATRICES]

    def biases(self) -> dict[str, np.ndarray]:
        """The per-neuron constant the program adds to each target's input."""
        return {"f": self.bf, "c": self.bc}

    #: The neuron's inputs (each fed by feed-forward and recurrent Dense) and its state variables.
    targets: ClassVar[tuple[str, ...]] = ("f", "c")
    state_names: ClassVar[tuple[str, ...]] = ("i", "v")

    def initial_state(self, zeros) -> tuple:
        return zeros(self.n_out), zeros(self.n_out)

    def neuron_params(self) -> dict[str, Any]:
        """What the neuron program reads besides its inputs: per-neuron arrays and scalars."""
        return {"bf": self.bf, "bc": self.bc, "level_exp": self.level_exp, "q_max": self.q_max,
                "threshold": self.threshold}

    @staticmethod
    def program(state: tuple, pre: Mapping[str, Any], p: Any, state_bits: int = 24) -> tuple[tuple, Any, Any]:
        """``(state, output, recurrent output)``: the graded payload both times."""
        i, v, q = pr_graded_step(*state, pre["f"], pre["c"], p, state_bits)
        return (i, v), q, q

    def step(self, state: tuple, pre: Mapping[str, Any], state_bits: int = 24) -> tuple[tuple, Any, Any]:
        return self.program(state, pre, self, state_bits)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **fields_to_dict(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PrGradedLayer":
        return fields_from_dict(cls, d)
