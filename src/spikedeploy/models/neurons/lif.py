"""LIF and CUBA-LIF neurons in Loihi's discrete form (float), parametric.

Per step, per neuron (``x_t`` is the synaptic input current, the output of the
layer's feed-forward ``nn.Linear`` at step t)::

    u_t = (1 - du) * u_{t-1} + x_t [+ W_rec @ s_{t-1}]     current
    v_t = (1 - dv) * v_{t-1} + u_t + bias                    voltage
    s_t = H(v_t - vth)        fires when v_t > vth (strictly, as Loihi)
    v_t = 0 where s_t         reset to zero; the reset path is detached from the
                              graph (v_t * (1 - s_t.detach())), so the gradient
                              flows through v but not through the reset decision

This is exactly Lava's ``PyLifModelBitAcc`` without the integer rounding (Loihi's
``du_int = 4096 * du - 1``, ``dv_int = 4096 * dv``). A **LIF** is a CUBA-LIF with
``du = 1``: the current is cleared every step, ``u_t = x_t [+ W_rec s_{t-1}]``.
``dv = 0`` (no leak) is an integrate-and-fire neuron.

``reset = "subtract"`` (not Loihi's; snnTorch's default, for models converted from it)
keeps the voltage after a spike and subtracts the threshold on the next step, after
the leak: ``v_t = (1 - dv) v_{t-1} + u_t + bias - vth * s_{t-1}``. Such a layer has no
Loihi form as it is; ``spikedeploy fold`` turns it into a reset to zero (docs/folding.md).

Parametrisation (per neuron, learnable unless switched off):
``du = sigmoid(du_raw)``, ``dv = sigmoid(dv_raw)`` (so 0 < d < 1; the LIF's
``du`` is the constant 1), ``vth = softplus(vth_raw)`` (> 0), ``bias`` plain.
:meth:`CubaLIF.neuron_params` returns the effective values; :meth:`CubaLIF.set_neuron_params`
sets them (inverting the parametrisation). The optional recurrent matrix
``recurrent`` is an ``nn.Linear(size, size, bias=False)`` reading the population's
own spikes of the previous step; it adds to the current ``u`` (as Loihi's
``dense_rec`` does).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..surrogate import Surrogate
from .base import NeuronPopulation, decay_logit, inv_softplus, logit, per_neuron


#: How a LIF / CUBA-LIF neuron resets after a spike (module docstring).
RESETS = ("zero", "subtract")


class CubaLIFParameters(NamedTuple):
    """Effective per-neuron values ([size] tensors) and the optional recurrent matrix."""

    du: torch.Tensor
    dv: torch.Tensor
    vth: torch.Tensor
    bias: torch.Tensor
    w_rec: torch.Tensor | None = None
    subtract: bool = False          # reset by subtracting vth on the next step (module docstring)


class CubaLIFState(NamedTuple):
    """``u`` current, ``v`` voltage, ``s`` last spikes; each [batch, size]."""

    u: torch.Tensor
    v: torch.Tensor
    s: torch.Tensor


def cuba_lif_step(x: torch.Tensor, state: CubaLIFState, p: CubaLIFParameters,
                  surrogate: Surrogate) -> tuple[torch.Tensor, CubaLIFState]:
    """One step of the CUBA-LIF neuron (module docstring); returns (s_t, new state)."""
    i_in = x if p.w_rec is None else torch.addmm(x, state.s, p.w_rec.t())  # x + W_rec s
    u = (1 - p.du) * state.u + i_in
    return _fire(u, (1 - p.dv) * state.v + u + p.bias, state, p, surrogate)


def _fire(u: torch.Tensor, v: torch.Tensor, state: CubaLIFState, p: CubaLIFParameters,
          surrogate: Surrogate) -> tuple[torch.Tensor, CubaLIFState]:
    """Spike where ``v > vth``, then reset: to zero, or (``p.subtract``) by ``vth`` on the next step."""
    if p.subtract:
        v = v - p.vth * state.s.detach()
    s = surrogate.spike(v - p.vth, strict=True)
    if not p.subtract:
        v = v * (1 - s.detach())
    return s, CubaLIFState(u, v, s)


def lif_step(x: torch.Tensor, state: CubaLIFState, p: CubaLIFParameters,
             surrogate: Surrogate) -> tuple[torch.Tensor, CubaLIFState]:
    """One step of the LIF neuron: :func:`cuba_lif_step` with ``du = 1`` (``p.du`` is ignored)."""
    u = x if p.w_rec is None else torch.addmm(x, state.s, p.w_rec.t())  # x + W_rec s
    return _fire(u, (1 - p.dv) * state.v + u + p.bias, state, p, surrogate)


class CubaLIF(NeuronPopulation):
    """A population of current-based LIF neurons (module docstring).

    Args:
        size: number of neurons.
        surrogate: the surrogate gradient of the spike.
        recurrent: add a learnable ``nn.Linear(size, size, bias=False)`` on the
            population's own previous spikes (attribute ``recurrent``; None otherwise).
        du, dv: initial decays in (0, 1) (scalars or [size] vectors).
        vth: initial thresholds > 0.
        bias: give each neuron a learnable bias (initialised to 0); otherwise 0.
        learn_decays, learn_thresholds: make du/dv and vth learnable (default) or fixed.
        reset: ``"zero"`` (Loihi) or ``"subtract"`` (module docstring).
    """

    kind: ClassVar[str] = "cuba-lif"
    step_function = staticmethod(cuba_lif_step)

    def __init__(self, size: int, surrogate: Surrogate, *, recurrent: bool = False,
                 du: float | torch.Tensor = 0.2, dv: float | torch.Tensor = 0.1,
                 vth: float | torch.Tensor = 1.0, bias: bool = True,
                 learn_decays: bool = True, learn_thresholds: bool = True, reset: str = "zero"):
        super().__init__(size, surrogate)
        if reset not in RESETS:
            raise ConfigError("reset", f"unknown reset {reset!r}", valid=RESETS)
        self.reset = reset
        if self.kind == "cuba-lif":
            self.du_raw = nn.Parameter(logit(self._checked("du", du)).float(),
                                       requires_grad=learn_decays)
        self.dv_raw = nn.Parameter(decay_logit(self._checked("dv", dv, zero_ok=True)).float(),
                                   requires_grad=learn_decays)
        vth_t = per_neuron(vth, size, "vth")
        if not bool((vth_t > 0).all()):
            raise ConfigError("vth_init", f"thresholds must be positive, got {vth!r}")
        self.vth_raw = nn.Parameter(inv_softplus(vth_t).float(), requires_grad=learn_thresholds)
        if bias:
            self.bias = nn.Parameter(torch.zeros(size))
        else:
            self.register_parameter("bias", None)
            self.register_buffer("_zero_bias", torch.zeros(size), persistent=False)
        self.recurrent = nn.Linear(size, size, bias=False) if recurrent else None

    def _checked(self, name: str, value: float | torch.Tensor, zero_ok: bool = False) -> torch.Tensor:
        t = per_neuron(value, self.size, name)
        if not bool((((t > 0) | ((t == 0) & zero_ok)) & (t < 1)).all()):
            interval = "[0, 1)" if zero_ok else "(0, 1)"
            raise ConfigError(f"{name}_init", f"initial decays must lie in {interval}, got {value!r}",
                              remedy="use 0 < d < 1 (d = 1 for the current is the plain LIF neuron)")
        return t

    # -- values ---------------------------------------------------------------------------
    def _du(self) -> torch.Tensor:
        return torch.sigmoid(self.du_raw)

    def params(self) -> CubaLIFParameters:
        """Effective parameters, differentiable (used by the step function)."""
        bias = self.bias if self.bias is not None else self._zero_bias
        return CubaLIFParameters(du=self._du(), dv=torch.sigmoid(self.dv_raw),
                                 vth=F.softplus(self.vth_raw), bias=bias,
                                 w_rec=None if self.recurrent is None else self.recurrent.weight,
                                 subtract=self.reset == "subtract")

    def neuron_params(self) -> dict[str, torch.Tensor]:
        """Per-neuron ``du``, ``dv``, ``vth``, ``bias`` as detached float32 [size] tensors."""
        with torch.no_grad():
            p = self.params()
            return {k: getattr(p, k).detach().to(torch.float32).clone() for k in ("du", "dv", "vth", "bias")}

    @torch.no_grad()
    def set_neuron_params(self, *, du=None, dv=None, vth=None, bias=None) -> None:
        """Set effective values (scalars or [size]); None leaves a value unchanged."""
        if du is not None:
            t = per_neuron(du, self.size, "du")
            if self.kind == "lif":
                if not bool((t == 1).all()):
                    raise ConfigError("du", "a LIF neuron's current decay is fixed at 1",
                                      remedy="use the 'cuba-lif' neuron for du < 1")
            else:
                if not bool(((t > 0) & (t < 1)).all()):
                    raise ConfigError("du", f"must lie in (0, 1) for a CUBA-LIF neuron, got {du!r}")
                self.du_raw.copy_(logit(t))
        if dv is not None:
            t = per_neuron(dv, self.size, "dv")
            if not bool(((t >= 0) & (t < 1)).all()):
                raise ConfigError("dv", f"must lie in [0, 1), got {dv!r}")
            self.dv_raw.copy_(decay_logit(t))
        if vth is not None:
            t = per_neuron(vth, self.size, "vth")
            if not bool((t > 0).all()):
                raise ConfigError("vth", f"thresholds must be positive, got {vth!r}")
            self.vth_raw.copy_(inv_softplus(t))
        if bias is not None:
            if self.bias is None:
                raise ConfigError("bias", "this population was built without a bias")
            self.bias.copy_(per_neuron(bias, self.size, "bias"))

    # -- dynamics -------------------------------------------------------------------------
    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> CubaLIFState:
        z = torch.zeros(batch, self.size, device=device, dtype=dtype)
        return CubaLIFState(z, z, z)

    def step(self, x_t: torch.Tensor, state: CubaLIFState) -> tuple[torch.Tensor, CubaLIFState]:
        """One step on ``x_t`` [batch, size]. The recurrent weight is applied by calling its
        ``nn.Linear`` (the same values as the step function's ``x + s W_rec^T``), so that module
        hooks see it: NeuroBench counts a recurrent layer's synaptic operations that way."""
        p = self.params()
        if self.recurrent is not None:
            x_t = x_t + self.recurrent(state.s)
            p = p._replace(w_rec=None)
        return self.step_function(x_t, state, p, self.surrogate)

    def forward(self, x: torch.Tensor, state: CubaLIFState | None = None
                ) -> tuple[torch.Tensor, CubaLIFState]:
        """Run ``x`` [batch, time, size]; return (spikes [batch, time, size], final state)."""
        self._check_input(x)
        p = self.params()
        st = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        step, sg = self.step_function, self.surrogate
        out = []
        for x_t in x.transpose(0, 1).unbind(0):
            s, st = step(x_t, st, p, sg)
            out.append(s)
        return torch.stack(out, 1), st

    def extra_repr(self) -> str:
        return super().extra_repr() + f", recurrent={self.recurrent is not None}, reset={self.reset!r}"


class LIF(CubaLIF):
    """A population of LIF neurons: :class:`CubaLIF` with ``du = 1`` (no ``du_raw``)."""

    kind: ClassVar[str] = "lif"
    step_function = staticmethod(lif_step)

    def __init__(self, size: int, surrogate: Surrogate, *, recurrent: bool = False,
                 dv: float | torch.Tensor = 0.1, vth: float | torch.Tensor = 1.0, bias: bool = True,
                 learn_decays: bool = True, learn_thresholds: bool = True, du: float = 1.0,
                 reset: str = "zero"):
        if du != 1.0:
            raise ConfigError("du_init", f"a LIF neuron's current decay is 1, got {du!r}",
                              remedy="use the 'cuba-lif' neuron for du < 1")
        super().__init__(size, surrogate, recurrent=recurrent, dv=dv, vth=vth, bias=bias,
                         learn_decays=learn_decays, learn_thresholds=learn_thresholds, reset=reset)

    def _du(self) -> torch.Tensor:
        return torch.ones_like(self.dv_raw)
