"""The non-spiking leaky integrator (LI), used as a readout.

Per step, per neuron (``x_t`` = the readout synapse's output ``W s_t``)::

    v_t = (1 - dv) * v_{t-1} + x_t + bias

The voltage is the output. This is a Loihi neuron with ``du = 1`` and no
threshold (a CUBA-LIF that never fires), so it quantises like the hidden layers.
``dv = sigmoid(dv_raw)`` per neuron, learnable unless switched off; ``bias`` is
the readout's bias ``b`` of ``v_t = (1 - dv) v_{t-1} + W s_t + b``.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import nn

from ...errors import ConfigError
from .base import NeuronPopulation, logit, per_neuron


class LIParameters(NamedTuple):
    dv: torch.Tensor
    bias: torch.Tensor


class LIState(NamedTuple):
    v: torch.Tensor


def li_step(x: torch.Tensor, state: LIState, p: LIParameters) -> tuple[torch.Tensor, LIState]:
    """One LI step; returns (v_t, new state)."""
    v = (1 - p.dv) * state.v + x + p.bias
    return v, LIState(v)


class LeakyIntegrator(NeuronPopulation):
    """``size`` leaky integrators; ``forward`` returns the voltage trace [batch, time, size]."""

    kind: ClassVar[str] = "li"

    def __init__(self, size: int, *, dv: float | torch.Tensor = 0.1, learn_decays: bool = True):
        super().__init__(size, None)
        t = per_neuron(dv, size, "dv")
        if not bool(((t > 0) & (t < 1)).all()):
            raise ConfigError("readout_dv_init", f"must lie in (0, 1), got {dv!r}")
        self.dv_raw = nn.Parameter(logit(t).float(), requires_grad=learn_decays)
        self.bias = nn.Parameter(torch.zeros(size))

    def params(self) -> LIParameters:
        return LIParameters(torch.sigmoid(self.dv_raw), self.bias)

    def neuron_params(self) -> dict[str, torch.Tensor]:
        """Per-neuron ``dv`` and ``bias`` (detached float32); ``du`` is 1 and there is no threshold."""
        with torch.no_grad():
            p = self.params()
            return {"du": torch.ones(self.size), "dv": p.dv.detach().float().clone(),
                    "bias": p.bias.detach().float().clone()}

    @torch.no_grad()
    def set_neuron_params(self, *, dv=None, bias=None) -> None:
        if dv is not None:
            t = per_neuron(dv, self.size, "dv")
            if not bool(((t > 0) & (t < 1)).all()):
                raise ConfigError("dv", f"must lie in (0, 1), got {dv!r}")
            self.dv_raw.copy_(logit(t))
        if bias is not None:
            self.bias.copy_(per_neuron(bias, self.size, "bias"))

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> LIState:
        return LIState(torch.zeros(batch, self.size, device=device, dtype=dtype))

    def step(self, x_t: torch.Tensor, state: LIState) -> tuple[torch.Tensor, LIState]:
        return li_step(x_t, state, self.params())

    def forward(self, x: torch.Tensor, state: LIState | None = None) -> tuple[torch.Tensor, LIState]:
        self._check_input(x)
        p = self.params()
        st = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        out = []
        for x_t in x.transpose(0, 1).unbind(0):
            v, st = li_step(x_t, st, p)
            out.append(v)
        return torch.stack(out, 1), st
