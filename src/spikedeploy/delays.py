"""Synaptic delays: a layer whose input reaches it through several delayed copies ("taps").

A layer with ``delays = (d_0, ..., d_{K-1})`` (distinct steps, increasing) holds its
feed-forward weight as the taps side by side, ``weight = [W_0 | W_1 | ... | W_{K-1}]``
of shape ``[out, K in]``, and its synaptic input at step ``t`` is::

    x_t = sum_k W_k @ in_{t - d_k}        (in_t = 0 for t < 0)

that is ``weight @ stack_t`` with ``stack_t = [in_{t-d_0}; ...; in_{t-d_{K-1}}]``
(:func:`delayed_inputs`). The default ``(0,)`` is the plain layer. A causal
convolution over time is such a layer: its time kernel's tap ``j`` is the delay
``dilation (kt - 1 - j)`` (``fold.s2net_conv``). On Loihi each tap is one
connection process with one delay for all its synapses (Lava's ``DelayDense``;
``Dense`` for delay 0), since a synapse has one delay and a convolution's taps join
the same pair of neurons at several delays. Stacking the taps in the weight keeps
every consumer that ignores delays loud: its matrix is ``K`` times wider than its input.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from .errors import ConfigError, ShapeMismatchError

#: The delays of a layer without delayed taps.
NO_DELAYS = (0,)


def check_delays(where: str, delays: Sequence[int] | None, n_cols: int) -> tuple[int, ...]:
    """``delays`` as a tuple of ints (distinct, increasing, >= 0) that divides ``n_cols`` taps."""
    d = NO_DELAYS if delays is None else tuple(np.asarray(delays).reshape(-1).tolist())
    if not d or any(not isinstance(k, int) or isinstance(k, bool) or k < 0 for k in d):
        raise ConfigError(f"{where} delays", f"must be integers >= 0, got {list(d)}")
    if any(b <= a for a, b in zip(d, d[1:])):
        raise ConfigError(f"{where} delays", f"must be distinct and increasing, got {list(d)}",
                          remedy="merge the weights of equal delays into one tap")
    if n_cols % len(d):
        raise ShapeMismatchError(f"{where} weight columns (taps x inputs)", f"a multiple of {len(d)}", n_cols)
    return d


def taps(weight: Any, delays: Sequence[int]) -> list[tuple[int, Any]]:
    """``[(d_k, W_k)]``: each delay with its block of the stacked weight ``[out, K in]``."""
    n = weight.shape[1] // len(delays)
    return [(int(d), weight[:, k * n:(k + 1) * n]) for k, d in enumerate(delays)]


def delayed_inputs(x: Any, delays: Sequence[int]) -> Any:
    """``x`` [..., T, n] (torch or numpy) -> ``[..., T, K n]``: the copies ``x_{t - d_k}`` side by
    side, zero before the first step; ``x`` itself for the plain layer."""
    if tuple(delays) == NO_DELAYS:
        return x
    T = x.shape[-2]
    parts = []
    for d in delays:
        d = min(int(d), T)
        if isinstance(x, torch.Tensor):
            pad = x.new_zeros(x.shape[:-2] + (d, x.shape[-1]))
            parts.append(torch.cat([pad, x[..., :T - d, :]], dim=-2))
        else:
            pad = np.zeros(x.shape[:-2] + (d, x.shape[-1]), dtype=x.dtype)
            parts.append(np.concatenate([pad, x[..., :T - d, :]], axis=-2))
    return torch.cat(parts, dim=-1) if isinstance(x, torch.Tensor) else np.concatenate(parts, axis=-1)
