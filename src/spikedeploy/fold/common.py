"""What every fold shares: its settings, the decay clustering and the calibration batches.

- :class:`FoldConfig`: how to fold (statistic, number of decay profiles, calibration
  size, optional distillation fine-tuning); stored in the folded checkpoint's report.
- :func:`cluster_decays`: optimal 1-D clustering of a layer's decays into at most K
  hardware profiles (:class:`DecayClusters`); :func:`recluster_` puts a network's decays
  back onto K profiles.
- :func:`check_calibration`, :func:`calibration_batches`: the calibration frames every
  fold reads, checked and batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import dataclass_from_dict, dataclass_to_dict
from ..errors import ConfigError
from ..models.networks import SpikingNetwork

#: Per-neuron statistics a gate can be folded with (see docs/folding.md).
FOLD_METHODS = ("mean", "lsq")
#: Distillation losses on the logits.
DISTILL_LOSSES = ("kl", "mse")

# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class FoldConfig:
    """How to fold (stored in the folded checkpoint's report).

    method           GPN only: per-neuron statistic of the gates: "mean" (mean gate value over the
                     calibration steps; the default: measured at least as good, see
                     docs/benchmarks.md) or "lsq" (least-squares fit of the update
                     h_t ~ f (1 - s_{t-1}) h_{t-1} + i x_t + beta per neuron, threshold by
                     its mean; see docs/folding.md)
    clusters         K: at most this many distinct decays (hardware profiles) per layer
    calib_samples    training samples used for the statistics (0: all of the train split)
    batch_size       batch size for calibration, evaluation and fine-tuning
    finetune_epochs  distillation epochs towards the source network's logits (0: none)
    finetune_lr      Adam learning rate of the distillation
    distill_loss     "kl" (soft targets at ``temperature``) or "mse" on the logits
    temperature      softmax temperature of the KL loss
    label_weight     weight of the cross entropy on the true labels added to the distillation loss
    finetune_decays  learn the decays too, re-clustering them onto K values after every
                     epoch (else they stay on their cluster values and only weights and
                     biases move); GPN and pr-v2 folds (an s2net fold keeps its one decay
                     per layer)
    seed             calibration subset, batch order and dropout
    """

    method: str = "mean"
    clusters: int = 8
    calib_samples: int = 1024
    batch_size: int = 64
    finetune_epochs: int = 0
    finetune_lr: float = 2e-3
    distill_loss: str = "kl"
    temperature: float = 2.0
    label_weight: float = 0.0
    finetune_decays: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in FOLD_METHODS:
            raise ConfigError("fold.method", f"unknown statistic {self.method!r}", valid=FOLD_METHODS)
        if self.distill_loss not in DISTILL_LOSSES:
            raise ConfigError("fold.distill_loss", f"unknown loss {self.distill_loss!r}", valid=DISTILL_LOSSES)
        for name, low in (("clusters", 1), ("calib_samples", 0), ("batch_size", 1), ("finetune_epochs", 0),
                          ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"fold.{name}", f"must be an integer >= {low}, got {v!r}")
        for name, ok in (("finetune_lr", lambda v: v > 0), ("temperature", lambda v: v > 0),
                         ("label_weight", lambda v: v >= 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
                raise ConfigError(f"fold.{name}", f"invalid value {v!r}")
            object.__setattr__(self, name, float(v))
        if not isinstance(self.finetune_decays, bool):
            raise ConfigError("fold.finetune_decays", f"must be true or false, got {self.finetune_decays!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FoldConfig":
        return dataclass_from_dict(cls, d, section="fold")

    def replace(self, **changes: Any) -> "FoldConfig":
        return self.from_dict({**self.to_dict(), **changes})


# ----------------------------------------------------------------------------- clustering

@dataclass(frozen=True)
class DecayClusters:
    """At most K decay values for a layer: ``centres`` (ascending) and each neuron's ``labels``."""

    original: np.ndarray
    centres: np.ndarray
    labels: np.ndarray

    @property
    def values(self) -> np.ndarray:
        """Each neuron's clustered decay."""
        return self.centres[self.labels]

    @property
    def sizes(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.centres)).tolist()

    def errors(self) -> dict[str, float]:
        """``max_abs`` and ``rms`` error of dv, ``sse`` (the objective), and ``max_tau_rel``:
        the largest relative change of a time constant ``1 / dv``."""
        d = self.values - self.original
        tau_rel = np.abs(self.original / self.values - 1.0)
        return {"max_abs": float(np.max(np.abs(d))) if d.size else 0.0,
                "rms": float(np.sqrt(np.mean(d ** 2))) if d.size else 0.0,
                "sse": float(np.sum(d ** 2)),
                "max_tau_rel": float(np.max(tau_rel)) if d.size else 0.0}

    def summary(self) -> dict[str, Any]:
        return {"profiles": [float(c) for c in self.centres], "sizes": self.sizes, "error": self.errors()}


def cluster_decays(values, k: int) -> DecayClusters:
    """Optimal least-squares clustering of 1-D ``values`` into at most ``k`` groups.

    Each group's centre is the mean of its members and the sum of squared distances to
    the centres is the smallest possible (in 1-D optimal groups are contiguous in sorted
    order, so dynamic programming over the sorted distinct values finds them exactly,
    in O(k m^2) for m distinct values). With ``k >=`` the number of distinct values every
    value is its own centre (zero error).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ConfigError("decays", f"expected a non-empty vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ConfigError("decays", "contain NaN or inf")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError("clusters", f"must be an integer >= 1, got {k!r}")
    uniq, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    m = uniq.size
    if k >= m:
        return DecayClusters(x, uniq.copy(), inverse.reshape(-1).astype(np.int64))
    w = counts.astype(np.float64)
    y = uniq - np.average(uniq, weights=w)              # centred: less cancellation in the sums
    cw = np.concatenate([[0.0], np.cumsum(w)])
    c1 = np.concatenate([[0.0], np.cumsum(w * y)])
    c2 = np.concatenate([[0.0], np.cumsum(w * y * y)])
    a = np.arange(m)[:, None]
    b = np.arange(m)[None, :]
    valid = a <= b
    n_ab = np.where(valid, cw[b + 1] - cw[a], 1.0)
    s1 = c1[b + 1] - c1[a]
    cost = np.where(valid, np.maximum(c2[b + 1] - c2[a] - s1 * s1 / n_ab, 0.0), np.inf)  # cost[a, b]: group a..b
    best = cost[0].copy()                               # best[b]: values 0..b in j groups
    choice = [np.zeros(m, dtype=np.int64)]
    for _ in range(1, k):
        prev = np.concatenate([[np.inf], best[:-1]])    # prev[a] = best cost of 0..a-1
        total = prev[:, None] + cost                    # [a, b]
        arg = np.argmin(total, axis=0)
        best = total[arg, np.arange(m)]
        choice.append(arg)
    bounds, hi = [], m - 1
    for j in range(k - 1, -1, -1):
        lo = int(choice[j][hi]) if j > 0 else 0
        bounds.append((lo, hi))
        hi = lo - 1
    bounds.reverse()
    centres = np.array([np.average(uniq[lo:hi + 1], weights=w[lo:hi + 1]) for lo, hi in bounds])
    group_of_unique = np.empty(m, dtype=np.int64)
    for g, (lo, hi) in enumerate(bounds):
        group_of_unique[lo:hi + 1] = g
    return DecayClusters(x, centres, group_of_unique[inverse.reshape(-1)])


def recluster_(net: SpikingNetwork, k: int) -> list[DecayClusters]:
    """Put every layer's decays onto at most ``k`` profiles (in place); returns the clusterings.
    LIF layers: ``dv`` is clustered. CUBA-LIF layers (the pr-v2 fold): ``du`` is clustered
    and each profile's ``dv`` is set to its members' mean, so a layer has at most ``k``
    distinct (du, dv) pairs, one Lava process each."""
    out = []
    for layer in net.layers:
        p = layer.neuron.neuron_params()
        if layer.kind == "lif":
            cl = cluster_decays(p["dv"].double().numpy(), k)
            layer.neuron.set_neuron_params(dv=torch.as_tensor(cl.values))
        else:
            cl = cluster_decays(p["du"].double().numpy(), k)
            dv = p["dv"].double().numpy()
            dv_profile = np.array([dv[cl.labels == g].mean() for g in range(len(cl.centres))])
            layer.neuron.set_neuron_params(du=torch.as_tensor(cl.values), dv=torch.as_tensor(dv_profile[cl.labels]))
        out.append(cl)
    return out


def batches(x: torch.Tensor, batch_size: int, device: torch.device, dtype: torch.dtype):
    """``x`` in batches of ``batch_size`` samples, on ``device`` as ``dtype``."""
    for b0 in range(0, x.shape[0], batch_size):
        yield x[b0:b0 + batch_size].to(device=device, dtype=dtype)


def check_calibration(net: SpikingNetwork, calib_x: torch.Tensor | None) -> None:
    """ConfigError unless ``calib_x`` is [N >= 1, T, features] frames (every fold needs them)."""
    if calib_x is None or calib_x.ndim != 3 or calib_x.shape[0] == 0:
        got = "nothing" if calib_x is None else f"shape {tuple(calib_x.shape)}"
        raise ConfigError("calibration data", f"expected [N >= 1, T, {net.config.input_size}] frames, got {got}")


def calibration_batches(net: SpikingNetwork, calib_x: torch.Tensor, batch_size: int, *, progress: bool = False,
                        desc: str = "calibration"):
    """``calib_x`` checked and cut into batches on ``net``'s device and dtype, behind a
    progress bar (shown when ``progress``)."""
    check_calibration(net, calib_x)
    ref = next(net.parameters())
    return tqdm(batches(calib_x, batch_size, ref.device, ref.dtype), total=math.ceil(calib_x.shape[0] / batch_size),
                desc=desc, unit="batch", leave=False, disable=not progress)


# ----------------------------------------------------------------------------- voltage at spike

#: Per layer: ``(step(x_t, state) -> (s_t, state), voltage(state) -> [B, C])``.
LayerRunner = Callable[[Any], tuple[Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]],
                                    Callable[[Any], torch.Tensor]]]


def _own_step(layer: Any):
    return layer.neuron.step, lambda st: st.v


@torch.no_grad()
def voltage_at_spike(net: SpikingNetwork, batches, runner: LayerRunner = _own_step) -> list[dict[str, np.ndarray]]:
    """Run ``net`` layer by layer on the frame batches (evaluation semantics) and return, per
    layer, each neuron's ``mean`` and ``std`` of the voltage at the steps it fires (NaN where it
    never fired) and its spike ``count``. ``runner(layer)`` gives the step and the voltage read
    (default: the neuron's own step and ``state.v``)."""
    sums: list[list[torch.Tensor] | None] = [None] * len(net.layers)
    for x in batches:
        h = x
        for k, layer in enumerate(net.layers):
            step, voltage = runner(layer)
            acc = sums[k] or [torch.zeros(layer.size, dtype=torch.float64) for _ in range(3)]
            st, out = layer.neuron.initial_state(h.shape[0], h.device, h.dtype), []
            for x_t in layer.synapse(h).transpose(0, 1).unbind(0):
                s, st = step(x_t, st)
                fired, v = s.double().cpu(), voltage(st).double().cpu()
                acc[0] += fired.sum(0)
                acc[1] += (v * fired).sum(0)
                acc[2] += (v * v * fired).sum(0)
                out.append(s)
            sums[k] = acc
            h = torch.stack(out, 1)
    result = []
    for n, s1, s2 in sums:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (s1 / n).numpy()
            result.append({"mean": mean, "std": np.sqrt(np.maximum((s2 / n).numpy() - mean ** 2, 0.0)),
                           "count": n.numpy()})
    return result

