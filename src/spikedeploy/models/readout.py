"""Non-spiking readouts: the layer that turns the last hidden layer's spikes into logits.

Both readouts are a synapse (``nn.Linear(n_in, n_classes, bias=False)``, attribute
``synapse``) followed by a Loihi neuron that never fires (current decay 1), whose
voltage ``v_t = (1 - dv) * v_{t-1} + W s_t + b`` is read out:

- :class:`LIReadout` (``"li"``): a leaky integrator with per-neuron learnable ``dv``;
  ``logits = max_t v_t`` (``reduce="max"``, the default) or ``v_T`` (``"last"``).
- :class:`MeanLinearReadout` (``"mean-linear"``): the GPN paper's readout,
  ``logits = mean_t (W s_t + b)``, which is the same as a perfect integrator
  (``dv = 0``) read as ``v_T / T`` (``reduce="mean"``).

These are exactly the ``readout`` modes of :class:`spikedeploy.netspec.NetworkSpec`
("max", "last", "mean"). ``neuron_params()`` returns ``du``, ``dv`` and ``bias``
per output neuron (du = 1 for both; dv = 0 for the mean readout).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from .neurons.li import LeakyIntegrator

#: Reductions over time the LI readout offers.
LI_REDUCES = ("max", "last")


class LIReadout(nn.Module):
    """Leaky-integrator readout; ``forward(s [B, T, n_in]) -> logits [B, n_classes]``."""

    kind: ClassVar[str] = "li"

    def __init__(self, n_in: int, n_classes: int, *, reduce: str = "max", dv: float = 0.1,
                 learn_decays: bool = True):
        super().__init__()
        if reduce not in LI_REDUCES:
            raise ConfigError("readout_reduce", f"unknown reduction {reduce!r} for the LI readout",
                              valid=LI_REDUCES)
        self.reduce = reduce
        self.synapse = nn.Linear(n_in, n_classes, bias=False)
        self.neuron = LeakyIntegrator(n_classes, dv=dv, learn_decays=learn_decays)

    def trace(self, s: torch.Tensor) -> torch.Tensor:
        """The voltage trace [B, T, n_classes]."""
        return self.neuron(self.synapse(s))[0]

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        v = self.trace(s)
        return v.amax(dim=1) if self.reduce == "max" else v[:, -1]

    def neuron_params(self) -> dict[str, torch.Tensor]:
        return self.neuron.neuron_params()


class MeanLinearReadout(nn.Module):
    """``logits = mean_t (W s_t + b)`` (the GPN paper's readout)."""

    kind: ClassVar[str] = "mean-linear"
    reduce: ClassVar[str] = "mean"

    def __init__(self, n_in: int, n_classes: int):
        super().__init__()
        self.synapse = nn.Linear(n_in, n_classes, bias=False)
        self.bias = nn.Parameter(torch.empty(n_classes))
        # nn.Linear's default bias initialisation, so this equals Linear(n_in, n_classes).
        bound = 1 / n_in ** 0.5
        nn.init.uniform_(self.bias, -bound, bound)

    def trace(self, s: torch.Tensor) -> torch.Tensor:
        """The per-step outputs ``W s_t + b`` [B, T, n_classes]."""
        return self.synapse(s) + self.bias

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        # mean_t(W s_t) + b == W mean_t(s_t) + b: one small product instead of T.
        return self.synapse(s.mean(dim=1)) + self.bias

    def neuron_params(self) -> dict[str, torch.Tensor]:
        n = self.bias.shape[0]
        return {"du": torch.ones(n), "dv": torch.zeros(n), "bias": self.bias.detach().float().clone()}


#: Readout classes by name.
READOUTS: dict[str, type[nn.Module]] = {"li": LIReadout, "mean-linear": MeanLinearReadout}
