"""Ponghiran & Roy's improved inherent recurrence, version 2 (AAAI 2022, arXiv 2109.01905).

As in the authors' code (``improved_spiking_model_v2.py`` and
``fake_spike_quantization.py`` of ``wponghiran/imp-snns-for-sl``). The layer's
synapse is ``nn.Linear(n_in, 2C)`` (so ``in_features = 2C``); its output, batch
normalised per feature over batch and time (``norm``, optional), is split into the
forget and candidate pre-activations. Per step, with ``Y_{t-1}`` the layer's own
previous (quantised) output and ``U = recurrent.weight`` [2C, C]::

    [a_f, a_c] = BN(W x_t) + U Y_{t-1}
    F = sigmoid(a_f) ;  C = ReLU(a_c)
    I_t = F * I_{t-1} + (1 - F) * C
    V_t = V_{t-1} + I_t
    Y_t = Q(V_t) ;  V_t = V_t - Y_t          (soft reset by the emitted value)

``Q`` is the symmetric multi-bit quantiser ("multi-bit spikes": graded, signed):
with ``n = 2^(bits - 1)``, ``m`` = the tracked range and ``scale = n (1 - 1e-4) / m``,
``Q(V) = trunc(scale * clamp(V, -m, m)) / scale``, and levels ``|q| <= threshold``
become 0. ``m = max(|min|, |max|)`` of bias-corrected exponential moving averages
(momentum 0.1) of the minimum and maximum of ``V``, updated at every step in training
mode and frozen in evaluation mode (the authors' tracker; before any training step
``m = 0`` and Q outputs zeros). Gradient: straight through inside ``[-m, m]``, zero
outside (the clamp). The authors' TIMIT setting: 2 x 550 units, 6 bits, threshold 3.

Differences from the authors' code, on purpose: dropout is the network's sequence
dropout on the layer's output (theirs masks the candidate term), and the input
layer reads the binned frames directly unless the network has an
:class:`InputQuantizer` (``input_quant``: their error-accumulating Q of the input,
``q_t = Q(a_t)``, ``a_t = a_{t-1} + x_t - q_{t-1}``; models converted from their code have it).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError, ShapeMismatchError
from .base import NeuronPopulation


class _QuantizeSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v: torch.Tensor, scale: torch.Tensor, threshold: float) -> torch.Tensor:  # type: ignore[override]
        q = torch.trunc(v * scale)
        q = torch.where(q.abs() <= threshold, torch.zeros_like(q), q)
        return q / scale

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        return grad_out, None, None


def quantize(v: torch.Tensor, scale: torch.Tensor, max_abs: torch.Tensor, threshold: float) -> torch.Tensor:
    """``Q(v)`` (module docstring): clamp to ±max_abs, truncate to levels of 1/scale, zero the
    levels within ``threshold`` of 0. Straight-through gradient inside the range."""
    v = torch.maximum(torch.minimum(v, max_abs), -max_abs)
    return _QuantizeSTE.apply(v, scale, threshold)


class RangeTracker(nn.Module):
    """Bias-corrected exponential moving averages of a tensor's minimum and maximum."""

    def __init__(self, n_bits: int = 6, momentum: float = 0.1):
        super().__init__()
        if not (isinstance(n_bits, int) and 1 <= n_bits <= 16):
            raise ConfigError("quant_bits", f"must be an integer in 1..16, got {n_bits!r}")
        if not (0 < momentum <= 1):
            raise ConfigError("quant_momentum", f"must lie in (0, 1], got {momentum!r}")
        self.n_bits = n_bits
        self.momentum = float(momentum)
        for name in ("min_biased", "max_biased", "min", "max", "count"):
            self.register_buffer(name, torch.zeros(()))

    @torch.no_grad()
    def observe(self, v: torch.Tensor) -> None:
        m = self.momentum
        self.count += 1
        correction = 1 - (1 - m) ** self.count
        self.min_biased.mul_(1 - m).add_(m * v.min())
        self.max_biased.mul_(1 - m).add_(m * v.max())
        self.min.copy_(self.min_biased / correction)
        self.max.copy_(self.max_biased / correction)

    def max_abs(self) -> torch.Tensor:
        return torch.maximum(self.min.abs(), self.max.abs())

    def scale(self) -> torch.Tensor:
        """``n (1 - 1e-4) / max_abs`` with ``n = 2^(bits - 1)`` (max_abs = 0 -> (1 - 1e-4))."""
        m = self.max_abs()
        n = 2.0 ** (self.n_bits - 1)
        return n * (1 - 1e-4) / torch.where(m > 0, m, torch.full_like(m, n))


class InputQuantizer(nn.Module):
    """The authors' quantiser of the network input (module docstring): the multi-bit ``Q`` of
    the accumulated input minus what was emitted, with its own range tracker."""

    def __init__(self, *, n_bits: int = 6, threshold: int = 3, momentum: float = 0.1):
        super().__init__()
        self.threshold = threshold
        self.quantizer = RangeTracker(n_bits, momentum)

    def step(self, x_t: torch.Tensor, acc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``(q_t, the accumulator after emitting q_t)``; ``acc`` [B, C] starts at 0."""
        a = acc + x_t
        q = self.quantizer
        if self.training:
            q.observe(a.detach())
        out = quantize(a, q.scale(), q.max_abs(), float(self.threshold))
        return out, a - out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, T, C] -> the quantised input [B, T, C]."""
        acc, out = torch.zeros_like(x[:, 0]), []
        for x_t in x.transpose(0, 1).unbind(0):
            q, acc = self.step(x_t, acc)
            out.append(q)
        return torch.stack(out, 1)


class PRv2Parameters(NamedTuple):
    w_rec: torch.Tensor        # [2C, C]: U, reading Y_{t-1}
    scale: torch.Tensor        # quantiser scale (scalar)
    max_abs: torch.Tensor      # quantiser range (scalar)
    threshold: float           # levels with |q| <= threshold become 0


class PRv2State(NamedTuple):
    """``i`` gated current, ``v`` accumulated (not yet emitted) value, ``y`` last output."""

    i: torch.Tensor
    v: torch.Tensor
    y: torch.Tensor


def pr_v2_integrate(x: torch.Tensor, state: PRv2State, w_rec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The gates and the accumulation: returns (I_t, V_t before emission). ``x`` [B, 2C]."""
    a = torch.addmm(x, state.y, w_rec.t())
    f_pre, c_pre = a.chunk(2, dim=-1)
    f = torch.sigmoid(f_pre)
    i = f * state.i + (1 - f) * F.relu(c_pre)
    return i, state.v + i


def pr_v2_step(x: torch.Tensor, state: PRv2State, p: PRv2Parameters) -> tuple[torch.Tensor, PRv2State]:
    """One step (module docstring) with a fixed quantiser; returns (Y_t, new state)."""
    i, v = pr_v2_integrate(x, state, p.w_rec)
    y = quantize(v, p.scale, p.max_abs, p.threshold)
    return y, PRv2State(i, v - y, y)


class PRv2(NeuronPopulation):
    """A layer of C improved-recurrence neurons with multi-bit outputs (module docstring)."""

    kind: ClassVar[str] = "pr-v2"

    def __init__(self, size: int, *, n_bits: int = 6, threshold: int = 3, momentum: float = 0.1,
                 batch_norm: bool = True):
        super().__init__(size, None)
        if not (isinstance(threshold, int) and 0 <= threshold < 2 ** (n_bits - 1)):
            raise ConfigError("quant_threshold", f"must be an integer in 0..{2 ** (n_bits - 1) - 1}, "
                                                 f"got {threshold!r}")
        self.threshold = threshold
        self.quantizer = RangeTracker(n_bits, momentum)
        self.norm = nn.BatchNorm1d(2 * size, momentum=momentum) if batch_norm else None
        self.recurrent = nn.Linear(size, 2 * size, bias=False)
        nn.init.orthogonal_(self.recurrent.weight, gain=nn.init.calculate_gain("relu"))

    @property
    def in_features(self) -> int:
        return 2 * self.size

    def params(self) -> PRv2Parameters:
        q = self.quantizer
        return PRv2Parameters(self.recurrent.weight, q.scale(), q.max_abs(), float(self.threshold))

    def neuron_params(self) -> dict[str, torch.Tensor]:
        """``w_rec`` [2C, C]; the quantiser's ``q_scale``, ``q_max_abs``, ``q_bits``, ``q_threshold``;
        with batch norm, its evaluation-mode affine map ``bn_scale``, ``bn_shift`` [2C]."""
        with torch.no_grad():
            p = self.params()
            out = {"w_rec": p.w_rec.detach().clone(), "q_scale": p.scale.detach().clone(),
                   "q_max_abs": p.max_abs.detach().clone(), "q_bits": torch.tensor(self.quantizer.n_bits),
                   "q_threshold": torch.tensor(self.threshold)}
            if self.norm is not None:
                bn = self.norm
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                out["bn_scale"] = scale.detach().clone()
                out["bn_shift"] = (bn.bias - bn.running_mean * scale).detach().clone()
            return out

    def initial_state(self, batch: int, device: torch.device | None = None,
                      dtype: torch.dtype = torch.float32) -> PRv2State:
        z = torch.zeros(batch, self.size, device=device, dtype=dtype)
        return PRv2State(z, z, z)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is None:
            return x
        shape = x.shape
        return self.norm(x.reshape(-1, shape[-1])).reshape(shape)

    def step(self, x_t: torch.Tensor, state: PRv2State) -> tuple[torch.Tensor, PRv2State]:
        """One step on the synapse output ``x_t`` [B, 2C] (evaluation semantics: the batch norm
        uses its running statistics only in evaluation mode; the quantiser is not updated)."""
        return pr_v2_step(self._normalise(x_t), state, self.params())

    def forward(self, x: torch.Tensor, state: PRv2State | None = None) -> tuple[torch.Tensor, PRv2State]:
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ShapeMismatchError("pr-v2 input [batch, time, 2 * size]", f"[*, *, {self.in_features}]",
                                     tuple(x.shape))
        x = self._normalise(x)
        st = self.initial_state(x.shape[0], x.device, x.dtype) if state is None else state
        w_rec, thr, q = self.recurrent.weight, float(self.threshold), self.quantizer
        out = []
        for x_t in x.transpose(0, 1).unbind(0):
            i, v = pr_v2_integrate(x_t, st, w_rec)
            if self.training:
                q.observe(v.detach())
            y = quantize(v, q.scale(), q.max_abs(), thr)
            st = PRv2State(i, v - y, y)
            out.append(y)
        return torch.stack(out, 1), st

    def extra_repr(self) -> str:
        return (f"size={self.size}, bits={self.quantizer.n_bits}, threshold={self.threshold}, "
                f"batch_norm={self.norm is not None}")
