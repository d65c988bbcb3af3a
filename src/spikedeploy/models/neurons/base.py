"""What every neuron population module offers, and the parametrisation helpers.

A neuron is four things (see docs/../style.md, "parameters + state + pure step +
thin module"):

- a ``Parameters`` NamedTuple of tensors: the *effective* per-neuron values the
  equations use (decays in (0, 1], thresholds > 0), built by
  :meth:`NeuronPopulation.params` from the learnable raw tensors;
- a ``State`` NamedTuple of ``[batch, size]`` tensors;
- a pure step function ``step(x_t, state, params, surrogate, ...) -> (s_t, state)``
  that the training loop, calibration and operation counting all share;
- a thin :class:`NeuronPopulation` module that owns the learnable tensors, the
  initial state and the time loop over a batch-first ``[batch, time, size]`` input.

``neuron_params()`` returns the same effective values as plain detached tensors
(a ``dict``), for readers outside PyTorch's graph (quantisation, folding, export).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ...errors import ConfigError, ShapeMismatchError
from ..surrogate import Surrogate


def logit(p: float | torch.Tensor) -> torch.Tensor:
    """Inverse of the sigmoid, for p in (0, 1) (clamped 1e-6 away from the ends)."""
    p = torch.as_tensor(p, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    return torch.log(p / (1 - p))


#: The raw value that stands for a decay of exactly 0 (no leak: an integrate-and-fire neuron):
#: its sigmoid is 0 in float32 (and below float64's resolution next to 1, so ``1 - d == 1``).
ZERO_DECAY_RAW = -200.0


def decay_logit(d: float | torch.Tensor) -> torch.Tensor:
    """The raw (pre-sigmoid) value of decays ``d`` in [0, 1): :func:`logit`, and
    :data:`ZERO_DECAY_RAW` where ``d == 0``."""
    d = torch.as_tensor(d, dtype=torch.float64)
    return torch.where(d == 0, torch.full_like(d, ZERO_DECAY_RAW), logit(d))


def inv_softplus(y: float | torch.Tensor) -> torch.Tensor:
    """Inverse of softplus, for y > 0."""
    y = torch.as_tensor(y, dtype=torch.float64)
    return torch.where(y > 20, y, torch.log(torch.expm1(y)))


def check_unit_interval(field: str, value: float, *, closed_low: bool = False) -> None:
    """Raise ConfigError unless 0 < value <= 1 (or 0 <= value <= 1)."""
    ok = (0 <= value <= 1) if closed_low else (0 < value <= 1)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
        interval = "[0, 1]" if closed_low else "(0, 1]"
        raise ConfigError(field, f"must lie in {interval}, got {value!r}")


def per_neuron(value: float | torch.Tensor, size: int, field: str) -> torch.Tensor:
    """``value`` as a float64 vector of ``size`` entries (a scalar is broadcast)."""
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if t.ndim == 0:
        t = t.expand(size)
    if t.shape != (size,):
        raise ShapeMismatchError(field, (size,), tuple(t.shape))
    return t.clone()


class NeuronPopulation(nn.Module):
    """Base class of a population of ``size`` neurons with its own time loop.

    Subclasses set ``kind`` (the registry name), and implement ``params``,
    ``neuron_params``, ``initial_state``, ``step`` and usually a faster ``forward``.
    """

    kind: ClassVar[str] = ""
    size: int

    def __init__(self, size: int, surrogate: Surrogate | None):
        super().__init__()
        if not (isinstance(size, int) and size > 0):
            raise ConfigError("hidden", f"a layer size must be a positive integer, got {size!r}")
        self.size = size
        self.surrogate = surrogate

    @property
    def in_features(self) -> int:
        """Width of the input current the population reads per step (the synapse's output):
        ``size`` for most neurons, ``2 * size`` for Ponghiran & Roy's two gate inputs."""
        return self.size

    def params(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def neuron_params(self) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Run ``x`` [batch, time, size] through time; return (spikes [batch, time, size], state)."""
        self._check_input(x)
        st = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        out = []
        for x_t in x.transpose(0, 1).unbind(0):
            s, st = self.step(x_t, st)
            out.append(s)
        return torch.stack(out, 1), st

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.size:
            raise ShapeMismatchError(f"{self.kind} input [batch, time, size]",
                                     f"[*, *, {self.size}]", tuple(x.shape))

    def extra_repr(self) -> str:
        sg = "none" if self.surrogate is None else self.surrogate.name
        return f"size={self.size}, surrogate={sg}"
