"""The hardware-friendly GPN on Loihi 2: its gates computed by the neuron, its state broadcast graded.

A GPN layer (:mod:`spikedeploy.models.neurons.gpn`, ``gates="hard"``) computes four gates
from ``[v_{t-1}, x_t]`` every step. On Loihi 2 they are not folded away: the neuron's state
``v`` goes out as a graded payload to a Dense holding the gates' ``v`` columns, the spikes
that make ``x_t = W_in s + c`` go to a Dense holding ``W_in`` and to four holding the gates'
``x`` columns composed with it (``W_gx W_in``: the gate reads ``x_t`` in the step it arrives,
so it reads the spikes directly), and the neuron program does the rest. Per neuron and
step, all integers (``>>`` arithmetic, floor; ``scale(y, e) = y << e`` or ``y >> -e``)::

    x    = scale(W_in s, e_in) + c_x                                  V units (1.0 = 2^P)
    a_g  = scale(M_g s, e_g) + scale(U_g p_prev, u_g) + b_g           g = forget, input, bypass, threshold
    f, i, th = clip(a_g + 2^(G-1), 0, 2^G)                            Q<G>: hard sigmoid a / 4 + 1/2
    b    = clip(a_b, -2^(G-2), 2^(G-2))                               Q<G-2>: hard tanh clip(a, -1, 1)
    h    = clip24((f v + i x) >> G)
    s    = h >= scale(th, P - G)
    v    = clip24((0 if s else h) + scale(b, P - G + 2))              reset to 0 (v_reset at evaluation)
    p    = clip(v >> k, +-(2^(v_bits - 1) - 1))                       the graded broadcast of v

``G`` (``gate_frac``) is the gates' fraction bits; every pre-activation is in units of
``2^-(G-2)`` of ``a`` (the 1/4 of the hard sigmoid folded into its weights and biases), so
``G`` also sets how large a pre-activation fits the chip's activation bits. ``p`` is ``v``
with ``k`` low bits dropped: the gates read a ``v_bits``-bit copy of the state (the fold picks
``k`` so that the calibration range of ``v`` fits, with headroom; beyond it the copy clips).
The layer's output to the next layer is the binary spike ``s``. :func:`gpn_graded_step` is the one definition, called by the
emulator and the Lava process model. At a reset step the neuron clears ``v`` and drops its
recurrent input, as the pr-v2 neuron does (:mod:`spikedeploy.quant.pr_graded`).
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

#: The gates, in the order of the gate arrays' first axis.
GATES = ("forget", "input", "bypass", "threshold")


def gpn_graded_step(v, x, a, p: Any, state_bits: int = 24):
    """One step (module docstring) on numpy arrays or torch tensors (int64): ``v`` [.., C], the
    current ``x`` and the four pre-activations ``a`` [4, .., C] without biases in;
    ``(v, s, payload)`` out. ``p`` holds ``c_x``, ``gate_b`` [4, C], ``v_exp``, ``v_shift``, ``v_bits``,
    ``gate_frac``."""
    xp = torch if isinstance(v, torch.Tensor) else np
    const = (lambda b: torch.tensor(np.asarray(b), device=v.device)) if xp is torch else np.asarray  # noqa: E731
    gb, q = const(p.gate_b), p.gate_frac
    one, b_one = 1 << q, 1 << (q - 2)
    f, i, th = (xp.clip(a[g] + gb[g] + one // 2, 0, one) for g in (0, 1, 3))
    b = xp.clip(a[2] + gb[2], -b_one, b_one)
    x = x + const(p.c_x)
    h = fx.clip_symmetric((f * v + i * x) >> q, state_bits)
    s = h >= fx.scale_pow2(th, p.v_exp - q)
    v = fx.clip_symmetric(xp.where(s, 0 * h, h) + fx.scale_pow2(b, p.v_exp - q + 2), state_bits)
    top = (1 << (p.v_bits - 1)) - 1
    return v, s, xp.clip(v >> p.v_shift, -top, top)


@dataclass(frozen=True, eq=False)
class GpnGradedLayer:
    """One hardware-friendly GPN layer on Loihi 2 (module docstring). ``gate_w`` [4, C, n_in] and
    ``gate_u`` [4, C, C] on Dense's 8-bit grid, one exponent each; ``gate_b`` [4, C]; ``c_x`` [C]."""

    kind: ClassVar[str] = "gpn"

    name: str
    w_in: np.ndarray
    w_in_exp: int
    c_x: Any
    gate_w: np.ndarray
    gate_w_exp: tuple[int, ...]
    gate_u: np.ndarray
    gate_u_exp: tuple[int, ...]
    gate_b: np.ndarray
    v_exp: int
    v_shift: int
    v_bits: int = 12
    gate_frac: int = 12
    num_weight_bits: int = 8

    def __post_init__(self) -> None:
        name, put = self.name, lambda k, val: object.__setattr__(self, k, val)
        if not isinstance(name, str) or not name:
            raise ConfigError("layer name", f"must be a non-empty string, got {name!r}")
        for key in ("w_in_exp", "v_exp", "v_shift", "v_bits", "gate_frac", "num_weight_bits"):
            put(key, _int_scalar(name, key, getattr(self, key)))
        put("w_in", _int_array(name, "w_in", self.w_in, ndim=2))
        c, n_in = self.w_in.shape
        for key, shape in (("gate_w", (4, c, n_in)), ("gate_u", (4, c, c)), ("gate_b", (4, c))):
            arr = _int_array(name, key, getattr(self, key)).astype(np.int64)
            if arr.shape != shape:
                raise ShapeMismatchError(f"layer {name!r} {key}", shape, arr.shape)
            put(key, arr)
        put("c_x", _int_array(name, "c_x", np.broadcast_to(np.asarray(self.c_x), (c,)).copy()).astype(np.int64))
        for key in ("gate_w_exp", "gate_u_exp"):
            exps = tuple(_int_scalar(name, key, e) for e in np.asarray(getattr(self, key)).reshape(-1))
            if len(exps) != 4:
                raise ShapeMismatchError(f"layer {name!r} {key}", 4, len(exps))
            put(key, exps)
        self.validate(fx.default_spec())

    def validate(self, spec: FixedPointSpec) -> None:
        """Every field against ``spec``'s widths; QuantizationError names the layer and field."""
        name = self.name
        mats = [("w_in", self.w_in, self.w_in_exp)]
        mats += [(f"gate_w[{g}]", self.gate_w[k], self.gate_w_exp[k]) for k, g in enumerate(GATES)]
        mats += [(f"gate_u[{g}]", self.gate_u[k], self.gate_u_exp[k]) for k, g in enumerate(GATES)]
        for key, w, exp in mats:
            _check_weight_grid(name, key, w, self.num_weight_bits, spec)
            _check_range(name, f"{key} exponent", np.asarray(exp), spec.weight_exp_min, spec.weight_exp_max,
                         "the weight exponent range", remedy="rescale the weights so the exponent fits")
        lo, hi = fx.int_range(spec.activation_bits)
        _check_range(name, "c_x", self.c_x, lo, hi, f"{spec.activation_bits}-bit currents")
        _check_range(name, "gate_b", self.gate_b, lo, hi, f"{spec.activation_bits}-bit pre-activations")
        _check_range(name, "v_bits", np.asarray(self.v_bits), 2, spec.state_bits, "payload widths",
                     remedy="payloads at most as wide as the neuron state")
        _check_range(name, "gate_frac", np.asarray(self.gate_frac), 4, 16, "gate fraction bits")
        _check_range(name, "v_exp", np.asarray(self.v_exp), self.gate_frac - 2, spec.state_bits - 2,
                     "state fractions (at least the bypass's)")
        _check_range(name, "v_shift", np.asarray(self.v_shift), 0, spec.state_bits, "shifts of the state")

    @property
    def n_in(self) -> int:
        return int(self.w_in.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.w_in.shape[0])

    @property
    def spiking(self) -> bool:
        return True

    @property
    def out_bits(self) -> int:
        """Binary spikes to the next layer."""
        return 0

    @property
    def rec_bits(self) -> int:
        """The graded broadcast of ``v`` to the layer's own gate connections."""
        return self.v_bits

    def connections(self) -> list[tuple[str, np.ndarray, int, bool]]:
        """``(target, weight, exponent, recurrent)`` per Dense: the current ``x`` and each gate's
        spike and ``v``-broadcast rows."""
        out = [("x", self.w_in, self.w_in_exp, False)]
        out += [(g, self.gate_w[k], self.gate_w_exp[k], False) for k, g in enumerate(GATES)]
        return out + [(g, self.gate_u[k], self.gate_u_exp[k], True) for k, g in enumerate(GATES)]

    def biases(self) -> dict[str, np.ndarray]:
        """The per-neuron constant the program adds to each target's input."""
        return {"x": self.c_x, **{g: self.gate_b[k] for k, g in enumerate(GATES)}}

    #: The neuron's inputs (each fed by Dense processes) and its state variables.
    targets: ClassVar[tuple[str, ...]] = ("x", *GATES)
    state_names: ClassVar[tuple[str, ...]] = ("v",)

    def initial_state(self, zeros) -> tuple:
        return (zeros(self.n_out),)

    def neuron_params(self) -> dict[str, Any]:
        """What the neuron program reads besides its inputs: per-neuron arrays and scalars."""
        return {"c_x": self.c_x, "gate_b": self.gate_b, "v_exp": self.v_exp, "v_shift": self.v_shift,
                "v_bits": self.v_bits, "gate_frac": self.gate_frac}

    @staticmethod
    def program(state: tuple, pre: Mapping[str, Any], p: Any, state_bits: int = 24) -> tuple[tuple, Any, Any]:
        """``(state, spikes, v payload)``."""
        xp = torch if isinstance(pre["x"], torch.Tensor) else np
        v, s, payload = gpn_graded_step(state[0], pre["x"], xp.stack([pre[g] for g in GATES]), p, state_bits)
        return (v,), s, payload

    def step(self, state: tuple, pre: Mapping[str, Any], state_bits: int = 24) -> tuple[tuple, Any, Any]:
        return self.program(state, pre, self, state_bits)

    def to_dict(self) -> dict[str, Any]:
        d = fields_to_dict(self)
        return {"kind": self.kind, **d, "gate_w_exp": list(d["gate_w_exp"]), "gate_u_exp": list(d["gate_u_exp"])}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GpnGradedLayer":
        return fields_from_dict(cls, d)
