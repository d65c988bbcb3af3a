"""Surrogate gradients: the Heaviside step forward, a smooth derivative backward.

A surrogate is a small frozen strategy object. ``surrogate.spike(x)`` returns
``H(x)`` (a float tensor of 0/1 values) in the forward pass and, in the backward
pass, multiplies the incoming gradient by ``surrogate.grad(x)``. Whether the
step fires at ``x == 0`` is the caller's choice (``strict=True``: fire when
``x > 0``, Loihi's rule; ``strict=False``: fire when ``x >= 0``, SpikingJelly's
and the GPN authors' rule). The backward pass is the same either way.

Available (name -> class, ``scale`` is the one shape parameter):

==============  ===============  =========================================================
name            class            derivative used in the backward pass
==============  ===============  =========================================================
``atan``        :class:`ATan`    ``(alpha/2) / (1 + (pi/2 * alpha * x)^2)``, alpha = 2
                                 (the GPN paper's; peak 1 at x = 0)
``fast-sigmoid`` :class:`FastSigmoid` ``1 / (1 + slope * |x|)^2``, slope = 10 (SuperSpike;
                                 peak 1)
``sigmoid``     :class:`Sigmoid` ``slope * sig(slope x) * (1 - sig(slope x))``, slope = 10
                                 (s2net's; peak slope/4)
==============  ===============  =========================================================

Build one by name with :func:`make_surrogate`; an unknown name raises
:class:`~spikedeploy.errors.ConfigError` listing the valid ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from ..errors import ConfigError


class _Heaviside(torch.autograd.Function):
    """H(x) forward, ``grad_out * surrogate.grad(x)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: "Surrogate", strict: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


@dataclass(frozen=True)
class Surrogate:
    """Base class: subclasses define ``name``, the default ``scale`` and ``grad``."""

    name: ClassVar[str] = ""
    scale: float = 1.0

    def grad(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def spike(self, x: torch.Tensor, strict: bool = True) -> torch.Tensor:
        """Heaviside of ``x`` (1 where ``x > 0``, or ``x >= 0`` if not ``strict``)."""
        return _Heaviside.apply(x, self, strict)

    def to_dict(self) -> dict:
        return {"name": self.name, "scale": float(self.scale)}


@dataclass(frozen=True)
class ATan(Surrogate):
    """Arctangent surrogate (the GPN paper's, alpha = 2)."""

    name: ClassVar[str] = "atan"
    scale: float = 2.0

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        a = self.scale
        # (a / 2) / (1 + (pi/2 a x)^2), with in-place steps on one temporary (backward-pass speed)
        return (x * (math.pi / 2 * a)).square_().add_(1.0).reciprocal_().mul_(a / 2)


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike's fast sigmoid derivative, ``1 / (1 + slope |x|)^2``."""

    name: ClassVar[str] = "fast-sigmoid"
    scale: float = 10.0

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (x.abs() * self.scale).add_(1.0).pow_(-2)


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Derivative of ``sigmoid(slope * x)`` (s2net's surrogate, slope 10)."""

    name: ClassVar[str] = "sigmoid"
    scale: float = 10.0

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scale * x
        return self.scale * torch.sigmoid(z) * torch.sigmoid(-z)  # = sig (1 - sig), no cancellation


#: Surrogate classes by name.
SURROGATES: dict[str, type[Surrogate]] = {cls.name: cls for cls in (ATan, FastSigmoid, Sigmoid)}


def make_surrogate(name: str, scale: float | None = None) -> Surrogate:
    """The surrogate called ``name`` with ``scale`` (its default when None)."""
    try:
        cls = SURROGATES[name]
    except KeyError:
        raise ConfigError("surrogate", f"unknown surrogate {name!r}", valid=sorted(SURROGATES)) from None
    if scale is None:
        return cls()
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise ConfigError("surrogate_scale", f"must be a positive number, got {scale!r}")
    return cls(scale=float(scale))
