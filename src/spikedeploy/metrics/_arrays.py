"""Input checks and integer-exact counting helpers shared by the metrics.

Every metric takes plain tensors (``torch.Tensor`` or ``numpy.ndarray``, any
dtype: bool, integer or float) and counts with integers, so that two runs with
equal spikes give equal counts whatever dtype or device produced them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, ShapeMismatchError

#: Rows of [B*T, in] processed at once when counting events per neuron (bounds memory).
CHUNK_ROWS = 16384


def as_tensor(value: Any, what: str) -> torch.Tensor:
    """``value`` as a detached CPU tensor (numpy arrays and nested lists are accepted)."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
    else:
        try:
            arr = np.asarray(value)
            if not arr.flags.writeable:  # e.g. LoihiNetwork's frozen arrays; never written here
                arr = arr.copy()
            t = torch.as_tensor(arr)
        except (TypeError, ValueError) as exc:
            raise ConfigError(what, f"cannot be read as an array ({exc})") from exc
    if t.is_complex():
        raise ConfigError(what, "complex values cannot be counted")
    if t.is_floating_point() and t.numel() and not all(
            bool(torch.isfinite(v)) for v in torch.aminmax(t)):  # one pass; NaN propagates
        raise ConfigError(what, "contains NaN or inf",
                          remedy="count the activity of a run whose outputs are finite")
    return t


def as_sequence(value: Any, what: str, *, features: int | None = None) -> torch.Tensor:
    """A [batch, time, features] tensor; ``features`` is checked when given."""
    t = as_tensor(value, what)
    if t.ndim != 3:
        raise ShapeMismatchError(what, "[batch, time, features]", tuple(t.shape),
                                 remedy="pass one tensor per layer shaped [B, T, n] (add the batch "
                                        "axis with x[None] for a single sample)")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ShapeMismatchError(f"{what} [batch, time]", "at least one sample and one step",
                                 tuple(t.shape[:2]))
    if features is not None and t.shape[2] != features:
        raise ShapeMismatchError(f"{what} features", features, int(t.shape[2]))
    return t


def as_matrix(value: Any, what: str) -> torch.Tensor:
    """A 2-D weight [out, in]."""
    t = as_tensor(value, what)
    if t.ndim != 2:
        raise ShapeMismatchError(what, "[out, in]", tuple(t.shape))
    return t


def nonzero(t: torch.Tensor) -> torch.Tensor:
    """Boolean mask of the non-zero entries."""
    return t != 0


def unit_valued(t: torch.Tensor) -> torch.Tensor:
    """Boolean mask [B, T]: True where every feature of the step lies in {-1, 0, 1}."""
    if t.dtype == torch.bool:
        return torch.ones(t.shape[:2], dtype=torch.bool)
    return ((t == 0) | (t == 1) | (t == -1)).all(dim=-1)


def shift_one_step(t: torch.Tensor) -> torch.Tensor:
    """``t`` delayed by one step along time: out[:, 0] = 0, out[:, k] = t[:, k-1]."""
    out = torch.zeros_like(t)
    out[:, 1:] = t[:, :-1]
    return out


def count_true(mask: torch.Tensor, keep: int) -> torch.Tensor:
    """Int64 counts of True in a boolean [B, T, n] mask, keeping axis ``keep`` (0 or 2).

    Summed in float32 (several times faster than an int64 reduction on CPU), which is
    exact while every count stays below 2^24; int64 otherwise.
    """
    b, t, n = mask.shape
    flat = mask.reshape(b, t * n) if keep == 0 else mask.reshape(b * t, n)
    axis = 1 if keep == 0 else 0
    if flat.shape[axis] < 2 ** 24:
        return flat.to(torch.float32).sum(dim=axis).round().to(torch.int64)
    return flat.sum(dim=axis, dtype=torch.int64)


def exact_matvec(mask: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Int64 ``mask @ counts`` for a boolean mask [..., k] and non-negative integers [k].

    A float matrix-vector product (fast) that is exact: float32 while every possible
    result stays below 2^24, float64 (exact below 2^53) otherwise.
    """
    dtype = torch.float32 if int(counts.sum()) < 2 ** 24 else torch.float64
    return torch.round(mask.to(dtype) @ counts.to(dtype)).to(torch.int64)


def events_per_neuron(inputs_nz: torch.Tensor, weight_nz: torch.Tensor) -> torch.Tensor:
    """Int64 [B, T, out]: how many non-zero inputs reach each neuron through a non-zero weight.

    ``(x != 0) @ (w != 0).T`` in float32 chunks: every partial sum is an integer below
    2^24 (fan-in at most 16 M), so the float product is exact.
    """
    b, t, n_in = inputs_nz.shape
    n_out = weight_nz.shape[0]
    if n_in >= 2 ** 24:
        raise ConfigError("fan-in", f"{n_in} inputs exceed the exact float32 counting range")
    flat = inputs_nz.reshape(b * t, n_in)
    w = weight_nz.to(torch.float32).T.contiguous()
    out = torch.empty((b * t, n_out), dtype=torch.int64)
    for start in range(0, b * t, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, b * t)
        out[start:stop] = torch.round(flat[start:stop].to(torch.float32) @ w).to(torch.int64)
    return out.reshape(b, t, n_out)
