"""The Gated Parametric Neuron (GPN; Wang, Zhang, Li, Wu, arXiv 2412.01087).

As in the authors' code (``core/neurons.py`` of ``hrje123/hr-GPN-SNN``). Per
layer of C neurons, one ``nn.Linear(2C, 4C)`` (attribute ``gates``, with bias)
reads ``[v_{t-1}, x_t]`` and its output splits, in this order, into four
pre-activations of C entries each::

    f_t  = sigmoid(a[0:C])      forget gate (in place of the leak)
    i_t  = sigmoid(a[C:2C])     input gate
    b_t  = tanh(a[2C:3C])       bypass gate (signed)
    th_t = sigmoid(a[3C:4C])    dynamic threshold in (0, 1)

    h_t = f_t * v_{t-1} + i_t * x_t
    s_t = H(h_t - th_t)                              fires when h_t >= th_t
    v_t = (1 - s_t) * h_t + s_t * v_reset + b_t      (reset path detached)

The columns of ``gates.weight`` [4C, 2C] read ``v_{t-1}`` (columns 0..C-1) and
``x_t`` (C..2C-1). The output is the binary spike; the bypass enters the state only.

``gates="hard"`` (the ``gpn-hw`` preset; not in the paper): the hardware-friendly GPN whose
gates fixed point can compute (Loihi 2, :mod:`spikedeploy.fold.gpn_loihi2`): the sigmoids
become ``clip(a / 4 + 1/2, 0, 1)`` (the sigmoid's slope at 0) and the tanh ``clip(a, -1, 1)``.

``v_reset`` and ``v_0``: drawn once per sequence from N(0, v_reset_std^2)
(std 0.05, per sample and neuron) in training mode; zero in evaluation mode.
Surrogate: ATan with alpha = 2 in the paper.

:meth:`GPN.forward` splits the gate matrix into its ``v`` and ``x`` halves and
computes the ``x`` half for all steps in one matrix product before the time
loop; :func:`gpn_step` is the plain per-step form (same values up to float
rounding).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..surrogate import Surrogate
from .base import NeuronPopulation


#: Gate functions: the paper's ("sigmoid": sigmoid and tanh) or piecewise-linear ("hard").
GATES = ("sigmoid", "hard")
#: The hard sigmoid's slope: ``clip(a / HARD_SLOPE + 1/2, 0, 1)``.
HARD_SLOPE = 4.0


def hard_sigmoid(a: torch.Tensor) -> torch.Tensor:
    return torch.clamp(a / HARD_SLOPE + 0.5, 0.0, 1.0)


def hard_tanh(a: torch.Tensor) -> torch.Tensor:
    return torch.clamp(a, -1.0, 1.0)


def gate_functions(gates: str):
    """``(sigmoid-like, tanh-like)`` of a gate kind (:data:`GATES`)."""
    return (hard_sigmoid, hard_tanh) if gates == "hard" else (torch.sigmoid, torch.tanh)


class GPNParameters(NamedTuple):
    """The gate matrix [4C, 2C] over ``[v_{t-1}, x_t]`` and its bias [4C]."""

    weight: torch.Tensor
    bias: torch.Tensor


class GPNState(NamedTuple):
    """``v`` voltage and ``v_reset`` (this sequence's reset value), each [batch, C]."""

    v: torch.Tensor
    v_reset: torch.Tensor


def _gpn_update(a: torch.Tensor, x: torch.Tensor, state: GPNState, surrogate: Surrogate,
                gates: str = "sigmoid", record: list | None = None) -> tuple[torch.Tensor, GPNState]:
    sig, tanh = gate_functions(gates)
    f_pre, i_pre, b_pre, th_pre = a.chunk(4, dim=-1)
    f, i, b, th = sig(f_pre), sig(i_pre), tanh(b_pre), sig(th_pre)
    if record is not None:
        record.append(torch.stack([f, i, b, th]))
    h = f * state.v + i * x
    s = surrogate.spike(h - th, strict=False)
    sd = s.detach()
    v = (1 - sd) * h + sd * state.v_reset + b
    return s, GPNState(v, state.v_reset)


def gate_variance(gates: torch.Tensor) -> torch.Tensor:
    """The mean over gates and neurons of each neuron's gate variance over batch and time;
    ``gates`` [T, 4, B, C] (what a fold that makes every gate a constant loses)."""
    return gates.var(dim=(0, 2), unbiased=False).mean()


def gpn_step(x: torch.Tensor, state: GPNState, p: GPNParameters,
             surrogate: Surrogate, gates: str = "sigmoid") -> tuple[torch.Tensor, GPNState]:
    """One GPN step (module docstring) with ``gates`` (:data:`GATES`); returns (s_t, new state)."""
    a = F.linear(torch.cat([state.v, x], dim=-1), p.weight, p.bias)
    return _gpn_update(a, x, state, surrogate, gates)


class GPN(NeuronPopulation):
    """A population of ``size`` gated parametric neurons (module docstring)."""

    kind: ClassVar[str] = "gpn"
    step_function = staticmethod(gpn_step)

    def __init__(self, size: int, surrogate: Surrogate, *, v_reset_std: float = 0.05, gates: str = "sigmoid"):
        super().__init__(size, surrogate)
        if not (isinstance(v_reset_std, (int, float)) and v_reset_std >= 0):
            raise ConfigError("v_reset_std", f"must be >= 0, got {v_reset_std!r}")
        if gates not in GATES:
            raise ConfigError("gpn_gates", f"unknown gate functions {gates!r}", valid=GATES)
        self.v_reset_std = float(v_reset_std)
        self.gate_kind = gates
        #: Set ``track_gates`` to keep the last forward pass's :func:`gate_variance` in ``last_gate_variance``
        #: (the fold-aware training penalty, ``[training] gate_variance_reg``).
        self.track_gates = False
        self.last_gate_variance: torch.Tensor | None = None
        self.gates = nn.Linear(2 * size, 4 * size)

    def params(self) -> GPNParameters:
        return GPNParameters(self.gates.weight, self.gates.bias)

    def neuron_params(self) -> dict[str, torch.Tensor]:
        """``gate_weight`` [4C, 2C] and ``gate_bias`` [4C] (row blocks: forget, input,
        bypass, threshold; column blocks: v_{t-1}, x_t), detached copies."""
        return {"gate_weight": self.gates.weight.detach().clone(),
                "gate_bias": self.gates.bias.detach().clone()}

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> GPNState:
        """``v_0 = v_reset``: N(0, std^2) in training mode, zeros in evaluation mode."""
        if self.training and self.v_reset_std > 0:
            v_reset = torch.randn(batch, self.size, device=device, dtype=dtype) * self.v_reset_std
        else:
            v_reset = torch.zeros(batch, self.size, device=device, dtype=dtype)
        return GPNState(v_reset, v_reset)

    def step(self, x_t: torch.Tensor, state: GPNState) -> tuple[torch.Tensor, GPNState]:
        return gpn_step(x_t, state, self.params(), self.surrogate, self.gate_kind)

    def gate_functions(self):
        """This population's ``(sigmoid-like, tanh-like)`` gate functions."""
        return gate_functions(self.gate_kind)

    def forward(self, x: torch.Tensor, state: GPNState | None = None) -> tuple[torch.Tensor, GPNState]:
        """Run ``x`` [batch, time, C]; return (spikes [batch, time, C], final state)."""
        self._check_input(x)
        c = self.size
        st = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        w_v = self.gates.weight[:, :c]
        w_x = self.gates.weight[:, c:]
        x_tm = x.transpose(0, 1)                               # [T, B, C]
        a_x = F.linear(x_tm, w_x, self.gates.bias)             # [T, B, 4C], all steps at once
        sg = self.surrogate
        out: list[torch.Tensor] = []
        record: list[torch.Tensor] | None = [] if self.track_gates else None
        # unbind, not a_x[t]: the backward of indexing would zero-fill a full [T, B, 4C] tensor per step
        for a_x_t, x_t in zip(a_x.unbind(0), x_tm.unbind(0)):
            a = torch.addmm(a_x_t, st.v, w_v.t())
            s, st = _gpn_update(a, x_t, st, sg, self.gate_kind, record)
            out.append(s)
        self.last_gate_variance = None if record is None else gate_variance(torch.stack(record))
        return torch.stack(out, 1), st

    def extra_repr(self) -> str:
        return super().extra_repr() + f", v_reset_std={self.v_reset_std}, gates={self.gate_kind}"
