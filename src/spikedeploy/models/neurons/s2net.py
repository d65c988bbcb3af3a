"""s2net's spiking layer with Deneve-style lateral connections (Zimmer, Pellegrini,
Masquelier; arXiv 1911.10124 and 2011.06846), dense variant.

As in the authors' code (``SpikingDenseLayer`` in ``models.py`` of ``romainzimmer/s2net``).
The layer's synapse ``W`` (``nn.Linear(n_in, C, bias=False)``, row i = neuron i's
receptive field ``w_i``) also sets the neuron dynamics::

    D = W W^T                       [C, C]: D_ij = <w_i, w_j>, D_ii = ||w_i||^2
    rst_t = s_{t-1} @ D             (lateral=True)   or   s_{t-1} * b * ||w||^2 (lateral=False)
    v_t = (v_{t-1} - rst_t) * beta + x_t * (1 - beta)      x_t = W in_t [+ V s_{t-1}]
    s_t = H(v_t / (||w_i||^2 + eps) - b_i)                 fires when > 0 (strict)

``D``'s diagonal makes it the subtractive reset; the off-diagonal terms are the lateral
inhibition: when neuron j fires, every neuron i loses ``<w_i, w_j>``.

``reset = "zero"`` (not in the paper; an option of this project) replaces the subtractive
self-reset by a reset to zero, keeping the lateral terms::

    v_t = (v_{t-1} (1 - s_{t-1}) - s_{t-1} @ (D - diag D)) * beta + x_t * (1 - beta)

which is exactly a Loihi LIF neuron with a recurrent weight (``spikedeploy fold`` turns
such a layer into a LIF layer with identical spikes; the paper's subtractive reset folds
only approximately, see :mod:`spikedeploy.fold.s2net`). Without lateral connections
it is a plain LIF neuron with reset to zero. ``beta``: one
learnable scalar per layer (init 0.7, kept in [0, 1]); ``b``: learnable per neuron
(init 1, kept >= 0); ``eps = 1e-8``. The authors keep the ranges by clamping the
parameters after every optimiser step: :meth:`S2NetLIF.constrain_` does that and the
training loop calls it (the forward pass also clamps, as a guard). Optional recurrent
weight ``V`` (``recurrent``, as the authors' ``recurrent=True``). Surrogate in the
paper: the derivative of sigmoid(10 x) (``surrogate = "sigmoid"``).

The population needs the layer's synaptic weight: :class:`~spikedeploy.models.networks.HiddenLayer`
hands it over with :meth:`S2NetLIF.bind_synapse` (a reference, not a second copy in
the state dict).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import nn

from ...errors import ConfigError, ShapeMismatchError
from ..surrogate import Surrogate
from .base import NeuronPopulation

EPS = 1e-8
#: Self-reset rules: the paper's subtraction of ||w||^2 (or b ||w||^2), or reset to zero.
RESETS = ("subtract", "zero")


class S2NetParameters(NamedTuple):
    beta: torch.Tensor             # scalar in [0, 1]
    b: torch.Tensor                # [C] >= 0
    norm: torch.Tensor             # [C] ||w_i||^2
    d: torch.Tensor | None         # [C, C] W W^T (lateral) or None
    w_rec: torch.Tensor | None     # [C, C] recurrent weight or None
    reset_to_zero: bool = False    # reset = "zero": v <- 0 after a spike, D's diagonal unused


class S2NetState(NamedTuple):
    v: torch.Tensor
    s: torch.Tensor


def s2net_step(x: torch.Tensor, state: S2NetState, p: S2NetParameters,
               surrogate: Surrogate) -> tuple[torch.Tensor, S2NetState]:
    """One step (module docstring); ``x`` = W in_t [B, C]. Returns (s_t, new state)."""
    if p.reset_to_zero:
        v_prev = state.v * (1 - state.s)
        rst = state.s @ p.d - state.s * torch.diagonal(p.d) if p.d is not None else None
    else:
        v_prev = state.v
        rst = state.s @ p.d if p.d is not None else state.s * (p.b * p.norm)
    if p.w_rec is not None:
        x = torch.addmm(x, state.s, p.w_rec.t())
    v = (v_prev if rst is None else v_prev - rst) * p.beta + x * (1 - p.beta)
    s = surrogate.spike(v / (p.norm + EPS) - p.b, strict=True)
    return s, S2NetState(v, s)


class S2NetLIF(NeuronPopulation):
    """A dense s2net spiking population of ``size`` neurons (module docstring)."""

    kind: ClassVar[str] = "s2net"

    def __init__(self, size: int, surrogate: Surrogate, *, lateral: bool = True, recurrent: bool = False,
                 beta: float = 0.7, b: float = 1.0, reset: str = "subtract", b_min: float = 0.0):
        super().__init__(size, surrogate)
        if reset not in RESETS:
            raise ConfigError("s2net_reset", f"unknown reset {reset!r}", valid=RESETS)
        self.reset = reset
        if not 0 <= beta <= 1:
            raise ConfigError("beta_init", f"must lie in [0, 1], got {beta!r}")
        if b < 0:
            raise ConfigError("b_init", f"must be >= 0, got {b!r}")
        if not 0 <= b_min <= b:
            raise ConfigError("b_min", f"must lie in [0, b_init], got {b_min!r}")
        self.b_min = float(b_min)    # the threshold's floor (deployable presets keep it off zero)
        self.lateral = bool(lateral)
        self.beta = nn.Parameter(torch.tensor(float(beta)))
        self.b = nn.Parameter(torch.full((size,), float(b)))
        self.recurrent = nn.Linear(size, size, bias=False) if recurrent else None
        self.__dict__["_synapse"] = None  # a reference, kept out of the module tree and state dict

    def bind_synapse(self, synapse: nn.Module) -> None:
        """Use ``synapse.weight`` [size, n_in] (or a convolution's [size, C_in, k...], flattened per
        channel: :mod:`spikedeploy.models.conv`) as W (for D and the norms)."""
        if synapse.weight.shape[0] != self.size:
            raise ShapeMismatchError("s2net synapse rows", self.size, synapse.weight.shape[0])
        self.__dict__["_synapse"] = synapse

    def _weight(self) -> torch.Tensor:
        syn = self.__dict__["_synapse"]
        if syn is None:
            raise ConfigError("s2net", "the population has no synapse bound",
                              remedy="build it inside a HiddenLayer or call bind_synapse(linear)")
        return syn.weight

    def params(self) -> S2NetParameters:
        w = self._weight().flatten(1)        # a conv kernel [C, C_in, k...] is one vector per channel
        return S2NetParameters(beta=self.beta.clamp(0.0, 1.0), b=self.b.clamp(min=self.b_min),
                               norm=(w * w).sum(1), d=(w @ w.t()) if self.lateral else None,
                               w_rec=None if self.recurrent is None else self.recurrent.weight,
                               reset_to_zero=self.reset == "zero")

    def neuron_params(self) -> dict[str, torch.Tensor]:
        """``beta`` (scalar), ``b`` and ``norm`` [C], and ``d`` = W W^T [C, C] with lateral
        connections; detached copies."""
        with torch.no_grad():
            p = self.params()
            out = {"beta": p.beta.clone(), "b": p.b.clone(), "norm": p.norm.clone()}
            if p.d is not None:
                out["d"] = p.d.clone()
            return out

    @torch.no_grad()
    def constrain_(self) -> None:
        """Clamp beta to [0, 1] and b to >= b_min (0 unless set) in place (after each optimiser step)."""
        self.beta.clamp_(0.0, 1.0)
        self.b.clamp_(min=self.b_min)

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> S2NetState:
        z = torch.zeros(batch, self.size, device=device, dtype=dtype)
        return S2NetState(z, z)

    def step(self, x_t: torch.Tensor, state: S2NetState) -> tuple[torch.Tensor, S2NetState]:
        return s2net_step(x_t, state, self.params(), self.surrogate)

    def forward(self, x: torch.Tensor, state: S2NetState | None = None) -> tuple[torch.Tensor, S2NetState]:
        self._check_input(x)
        p = self.params()
        st = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        out = []
        for x_t in x.transpose(0, 1).unbind(0):
            s, st = s2net_step(x_t, st, p, self.surrogate)
            out.append(s)
        return torch.stack(out, 1), st

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", lateral={self.lateral}, recurrent={self.recurrent is not None}, "
                f"reset={self.reset!r}")
