"""Folding a GPN's gates into per-neuron LIF parameters (the algebra: docs/folding.md).

The GPN's four gates are dense real-valued matrix products over ``[v_{t-1}, x_t]``
every step, which Loihi cannot run. Replaced by per-neuron constants ``f, i, b, th``
(taken from calibration data), a GPN layer in evaluation mode (``v_reset = 0``) is
exactly a LIF layer (``du = 1``, reset to zero) whose voltage is the GPN's ``h``::

    GPN:     h_t = f v_{t-1} + i x_t ;  s_t = [h_t >= th] ;  v_t = (1 - s_t) h_t + b
    =>       h_t = f (1 - s_{t-1}) h_{t-1} + f b + i x_t              (t >= 2)
    LIF:     V_t = (1 - dv) (1 - s_{t-1}) V_{t-1} + W' in_t + bias ;  s_t = [V_t > vth]

    with V = h / th,  dv = 1 - f,  W' = (i / th) W,  bias = (i c + f b) / th,  vth = 1

(``x_t = W in_t + c``, ``c`` the GPN synapse's bias). Every neuron shares ``vth = 1``;
the decays differ per neuron and are clustered into at most K values (Lava's LIF
holds one ``dv`` per process, so each value is one process). Two differences remain
even with constant gates, both documented and tested: the first step (the GPN starts
from ``v_0 = 0``, the LIF from the state that corresponds to ``v_0 = b``: the LIF's
``h_1`` is larger by ``f b`` until the neuron first fires) and ties (the GPN fires at
``h = th``, Loihi only above).

Public API:

- :class:`FoldConfig`: how to fold (statistic, number of decay profiles, calibration
  size, optional distillation fine-tuning).
- :func:`gate_statistics`: run the GPN on calibration data and gather each gate's
  per-neuron statistics (:class:`LayerGateStats`).
- :class:`GateConstants`, :func:`fold_layer`: the algebra (constant gates -> LIF rows).
- :func:`cluster_decays`: optimal 1-D clustering of the decays (:class:`DecayClusters`).
- :func:`fold_gpn`: all of it on an in-memory network -> (LIF network, report).
- :func:`distill`: fine-tune the folded network towards the GPN's logits.
- :data:`FOLDERS`, :func:`fold_network`: the registry of folds by neuron kind: the GPN
  (this module), s2net (:mod:`.fold_s2net`) and Ponghiran & Roy's pr-v2 (:mod:`.fold_pr`).
- :func:`run_fold`: what ``spikedeploy fold`` calls (checkpoint + data folder -> checkpoint),
  for any network in :data:`FOLDERS`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..config import dataclass_from_dict, dataclass_to_dict
from ..errors import CheckpointError, ConfigError, DataFormatError
from ..models.networks import HiddenLayer, NetworkConfig, SpikingNetwork, build_network

#: Per-neuron statistics a gate can be folded with (see docs/folding.md).
FOLD_METHODS = ("mean", "lsq")
#: Distillation losses on the logits.
DISTILL_LOSSES = ("kl", "mse")
#: The shared threshold of every folded neuron (rows are scaled by 1 / th).
FOLDED_VTH = 1.0
#: The forget gate is kept in [F_MIN, F_MAX] so that dv = 1 - f lies strictly inside (0, 1).
F_MIN, F_MAX = 1e-4, 1.0 - 1e-4
#: Ridge of the least-squares fit, relative to the mean diagonal of its normal matrix; it
#: pulls a neuron with too little data towards its mean-gate values.
LSQ_RIDGE = 1e-6

_REMEDY_DATA = ("DIR must hold train.h5 and test.h5 in the SHD format; build the default data set with "
                "`spikedeploy data synth-digits` (see `spikedeploy data where`)")


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


# ----------------------------------------------------------------------------- the algebra

@dataclass(frozen=True)
class GateConstants:
    """Constant gates of one GPN layer, float64 [C] each: forget ``f`` in (0, 1), input
    ``i`` >= 0, bypass ``b`` (added to v after the reset), threshold ``th`` > 0."""

    forget: np.ndarray
    input: np.ndarray
    bypass: np.ndarray
    threshold: np.ndarray

    def __post_init__(self) -> None:
        arrays = {k: np.asarray(getattr(self, k), dtype=np.float64) for k in ("forget", "input", "bypass", "threshold")}
        n = arrays["forget"].shape
        for k, a in arrays.items():
            if a.ndim != 1 or a.shape != n:
                raise ConfigError(f"gate {k}", f"expected a vector of {n[0] if n else '?'} values, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ConfigError(f"gate {k}", "contains NaN or inf")
            object.__setattr__(self, k, a)
        f, th = arrays["forget"], arrays["threshold"]
        if np.any(f <= 0) or np.any(f >= 1):
            raise ConfigError("gate forget", "must lie strictly between 0 and 1 (the decay is dv = 1 - f)")
        if np.any(arrays["input"] < 0):
            raise ConfigError("gate input", "must be >= 0")
        if np.any(th <= 0):
            raise ConfigError("gate threshold", "must be > 0 (rows are scaled by 1 / th)")

    @property
    def size(self) -> int:
        return int(self.forget.shape[0])

    @property
    def dv(self) -> np.ndarray:
        """The LIF voltage decay ``1 - f``."""
        return 1.0 - self.forget


@dataclass(frozen=True)
class FoldedLayer:
    """One LIF layer (``du = 1``): ``weight`` [C, n_in], ``bias`` [C], ``dv`` [C] (float64)
    and the shared threshold ``vth``."""

    weight: np.ndarray
    bias: np.ndarray
    dv: np.ndarray
    vth: float = FOLDED_VTH


def fold_layer(weight, synapse_bias, gates: GateConstants, *, vth: float = FOLDED_VTH) -> FoldedLayer:
    """Fold one GPN layer with constant gates into a LIF layer (module docstring).

    ``weight`` [C, n_in] and ``synapse_bias`` [C] (or None) are the GPN synapse's
    ``x_t = weight @ in_t + synapse_bias``. Row ``j`` is scaled by ``vth * i_j / th_j``;
    ``bias_j = vth (i_j c_j + f_j b_j) / th_j``; ``dv_j = 1 - f_j``.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != gates.size:
        raise ConfigError("weight", f"expected [{gates.size}, n_in], got shape {w.shape}")
    c = np.zeros(gates.size) if synapse_bias is None else np.asarray(synapse_bias, dtype=np.float64)
    if c.shape != (gates.size,):
        raise ConfigError("synapse_bias", f"expected [{gates.size}], got shape {c.shape}")
    scale = vth / gates.threshold
    return FoldedLayer(weight=(gates.input * scale)[:, None] * w,
                       bias=scale * (gates.input * c + gates.forget * gates.bypass),
                       dv=gates.dv, vth=float(vth))


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


# ----------------------------------------------------------------------------- statistics

class _Moments:
    """Per-neuron count, sum, sum of squares, min, max (float64)."""

    def __init__(self, n: int):
        self.count = 0
        self.s1 = torch.zeros(n, dtype=torch.float64)
        self.s2 = torch.zeros(n, dtype=torch.float64)
        self.lo = torch.full((n,), math.inf, dtype=torch.float64)
        self.hi = torch.full((n,), -math.inf, dtype=torch.float64)

    def add(self, g: torch.Tensor) -> None:
        """``g`` [..., n]: every leading entry is one observation per neuron."""
        g = g.detach().reshape(-1, g.shape[-1]).to(torch.float64).cpu()
        self.count += g.shape[0]
        self.s1 += g.sum(0)
        self.s2 += (g * g).sum(0)
        self.lo = torch.minimum(self.lo, g.min(0).values)
        self.hi = torch.maximum(self.hi, g.max(0).values)

    def mean(self) -> np.ndarray:
        return (self.s1 / max(self.count, 1)).numpy()

    def summary(self) -> dict[str, float]:
        """Over neurons: the mean gate value, the spread of the per-neuron means, the mean
        within-neuron std over time, and the extremes seen."""
        n = max(self.count, 1)
        mean = self.s1 / n
        std = torch.sqrt(torch.clamp(self.s2 / n - mean * mean, min=0))
        return {"mean": float(mean.mean()), "neuron_mean_std": float(mean.std()) if mean.numel() > 1 else 0.0,
                "within_neuron_std": float(std.mean()), "min": float(self.lo.min()), "max": float(self.hi.max())}


@dataclass
class LayerGateStats:
    """What :func:`gate_statistics` gathered for one GPN layer.

    ``moments``: per gate ("forget", "input", "bypass", "threshold") over all calibration
    steps. ``normal`` [C, 3, 3] and ``rhs`` [C, 3]: the least-squares system of the
    update ``h_t ~ f w_{t-1} + i x_t + beta`` with ``w_{t-1} = (1 - s_{t-1}) h_{t-1}``
    over the steps t >= 2. ``spikes``: spikes per neuron; ``steps``: steps per neuron.
    """

    name: str
    size: int
    moments: dict[str, _Moments]
    normal: torch.Tensor
    rhs: torch.Tensor
    h_sq: torch.Tensor
    spikes: torch.Tensor
    steps: int = 0
    samples: int = 0

    def mean_constants(self) -> GateConstants:
        """The mean gate value of each neuron (forget clipped into [F_MIN, F_MAX])."""
        m = {k: mo.mean() for k, mo in self.moments.items()}
        return GateConstants(np.clip(m["forget"], F_MIN, F_MAX), np.maximum(m["input"], 0.0), m["bypass"],
                             m["threshold"])

    def lsq_constants(self) -> tuple[GateConstants, dict[str, float]]:
        """Least-squares fit of ``(f, i, beta)`` per neuron (ridge towards the mean gates);
        ``b = beta / f`` so that ``f b = beta``; threshold: its mean. Also returns the fit's
        summary (mean R^2 of the update over neurons, how many neurons were clipped)."""
        mean = self.mean_constants()
        prior = torch.tensor(np.stack([mean.forget, mean.input, mean.forget * mean.bypass], 1))  # [C, 3]
        A = self.normal.clone()
        lam = LSQ_RIDGE * torch.clamp(torch.diagonal(A, dim1=1, dim2=2).mean(1), min=1e-12)  # [C]
        A = A + lam[:, None, None] * torch.eye(3, dtype=A.dtype)
        r = self.rhs + lam[:, None] * prior
        theta = torch.linalg.solve(A, r.unsqueeze(-1)).squeeze(-1)  # [C, 3]
        # R^2 of the fit on the calibration steps (from the sums, before clipping).
        sse = (self.h_sq - 2 * (theta * self.rhs).sum(1)
               + torch.einsum("ci,cij,cj->c", theta, self.normal, theta))
        n = self.normal[:, 2, 2].clamp(min=1)
        h_mean = self.rhs[:, 2] / n
        sst = (self.h_sq - n * h_mean ** 2).clamp(min=1e-30)
        r2 = 1 - sse / sst
        th = theta.numpy()
        f_raw, i_raw, beta = th[:, 0], th[:, 1], th[:, 2]
        f = np.clip(f_raw, F_MIN, F_MAX)
        i = np.maximum(i_raw, 0.0)
        info = {"mean_r2": float(r2.mean()), "min_r2": float(r2.min()),
                "forget_clipped": int(np.sum(f != f_raw)), "input_clipped": int(np.sum(i != i_raw))}
        return GateConstants(f, i, beta / f, mean.threshold), info

    def summary(self) -> dict[str, Any]:
        return {"gates": {k: mo.summary() for k, mo in self.moments.items()},
                "firing_rate": float(self.spikes.sum() / max(self.steps * self.size, 1)),
                "silent_neurons": int((self.spikes == 0).sum()), "steps": self.steps, "samples": self.samples}


def _check_gpn(net: SpikingNetwork) -> None:
    if not isinstance(net, SpikingNetwork) or net.config.neuron != "gpn":
        got = net.config.neuron if isinstance(net, SpikingNetwork) else type(net).__name__
        raise ConfigError("model.neuron", f"folding needs a GPN network, got {got!r}",
                          remedy="fold a checkpoint trained with a GPN preset (gpn-small, gpn-shd, gpn-ssc); "
                                 "LIF/CUBA-LIF networks go to the quantiser directly")


def _gpn_layer_run(layer: HiddenLayer, inp: torch.Tensor,
                   visit: Callable[..., None] | None = None) -> torch.Tensor:
    """The GPN layer's spikes for ``inp`` [B, T, n_in] in evaluation mode, computed with the
    same operations as ``GPN.forward`` (so bit-identical to it); ``visit(t, f, i, b, th, h, x,
    w_prev, s)`` sees every step's gate values ([B, C] each)."""
    neuron = layer.neuron
    c = neuron.size
    x = layer.synapse(inp)
    st = neuron.initial_state(x.shape[0], x.device, x.dtype)
    v = st.v
    w_v = neuron.gates.weight[:, :c]
    w_x = neuron.gates.weight[:, c:]
    x_tm = x.transpose(0, 1)
    a_x = F.linear(x_tm, w_x, neuron.gates.bias)
    w_prev = torch.zeros_like(v)
    out = []
    for t in range(x_tm.shape[0]):
        a = torch.addmm(a_x[t], v, w_v.t())
        f_pre, i_pre, b_pre, th_pre = a.chunk(4, dim=-1)
        f, i = torch.sigmoid(f_pre), torch.sigmoid(i_pre)
        h = f * v + i * x_tm[t]
        th = torch.sigmoid(th_pre)
        s = (h - th >= 0).to(h.dtype)
        b = torch.tanh(b_pre)
        v_new = (1 - s) * h + s * st.v_reset + b
        if visit is not None:
            visit(t, f, i, b, th, h, x_tm[t], w_prev, s)
        w_prev = (1 - s) * h
        v = v_new
        out.append(s)
    return torch.stack(out, 1)


@torch.no_grad()
def gate_statistics(net: SpikingNetwork, batches: Iterable[torch.Tensor], *,
                    progress: bool = False, total: int | None = None) -> list[LayerGateStats]:
    """Run the GPN ``net`` (evaluation mode) over ``batches`` of frames [B, T, input_size]
    and gather each layer's per-neuron gate statistics along the GPN's own trajectory."""
    from tqdm.auto import tqdm

    _check_gpn(net)
    was_training = net.training
    net.eval()
    stats = []
    for k, layer in enumerate(net.layers):
        n = layer.size
        stats.append(LayerGateStats(
            f"layers.{k}", n, {g: _Moments(n) for g in ("forget", "input", "bypass", "threshold")},
            torch.zeros(n, 3, 3, dtype=torch.float64), torch.zeros(n, 3, dtype=torch.float64),
            torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)))
    try:
        for x in tqdm(batches, desc="gate statistics", unit="batch", total=total, disable=not progress,
                      leave=False):
            net.check_input(x)
            h_in = x
            for layer, st in zip(net.layers, stats):
                def visit(t, f, i, b, th, h, x_t, w_prev, s, st=st):
                    for name, g in (("forget", f), ("input", i), ("bypass", b), ("threshold", th)):
                        st.moments[name].add(g)
                    st.spikes += s.sum(0).to(torch.float64).cpu()
                    if t == 0:  # v_0 = 0, not (1 - s_0) h_0 + b: outside the steady recursion
                        return
                    z = torch.stack([w_prev, x_t, torch.ones_like(x_t)], -1).to(torch.float64).cpu()  # [B, C, 3]
                    hh = h.to(torch.float64).cpu()
                    st.normal += torch.einsum("bci,bcj->cij", z, z)
                    st.rhs += torch.einsum("bci,bc->ci", z, hh)
                    st.h_sq += (hh * hh).sum(0)

                h_in = _gpn_layer_run(layer, h_in, visit)
                st.steps += x.shape[0] * x.shape[1]
                st.samples += x.shape[0]
    finally:
        net.train(was_training)
    return stats


# ----------------------------------------------------------------------------- building

def folded_network_config(gpn_config: NetworkConfig, *, learn_decays: bool = False) -> NetworkConfig:
    """The LIF network a GPN folds into: same sizes, readout and dropout; LIF neurons
    (``du = 1``) without recurrence, neuron bias instead of a synapse bias, fixed shared
    threshold; decays fixed unless ``learn_decays``."""
    return gpn_config.replace(neuron="lif", recurrent=False, synapse_bias=False, neuron_bias=True,
                              vth_init=FOLDED_VTH, learn_thresholds=False, learn_decays=learn_decays)


@torch.no_grad()
def build_folded_network(gpn: SpikingNetwork, layers: list[FoldedLayer], *,
                         learn_decays: bool = False) -> SpikingNetwork:
    """A LIF :class:`SpikingNetwork` with the folded rows, biases and decays, and the GPN's
    readout copied unchanged; same dtype and device as ``gpn``."""
    _check_gpn(gpn)
    if len(layers) != len(gpn.layers):
        raise ConfigError("layers", f"expected {len(gpn.layers)} folded layers, got {len(layers)}")
    ref = next(gpn.parameters())
    net = build_network(folded_network_config(gpn.config, learn_decays=learn_decays)).to(ref.device, ref.dtype)
    for layer, fl in zip(net.layers, layers):
        layer.synapse.weight.copy_(torch.as_tensor(fl.weight, dtype=ref.dtype))
        layer.neuron.set_neuron_params(dv=torch.as_tensor(fl.dv), vth=fl.vth, bias=torch.as_tensor(fl.bias))
    net.readout.load_state_dict(gpn.readout.state_dict())
    net.train(gpn.training)
    return net


def _set_decays(net: SpikingNetwork, decays: list[np.ndarray]) -> None:
    for layer, dv in zip(net.layers, decays):
        layer.neuron.set_neuron_params(dv=torch.as_tensor(dv))


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


def _batches(x: torch.Tensor, batch_size: int, device: torch.device, dtype: torch.dtype):
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
    from tqdm.auto import tqdm

    check_calibration(net, calib_x)
    ref = next(net.parameters())
    return tqdm(_batches(calib_x, batch_size, ref.device, ref.dtype), total=math.ceil(calib_x.shape[0] / batch_size),
                desc=desc, unit="batch", leave=False, disable=not progress)


@torch.no_grad()
def fold_gpn(gpn: SpikingNetwork, calib_x: torch.Tensor, config: FoldConfig = FoldConfig(), *,
             progress: bool = False) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Fold ``gpn`` with statistics from ``calib_x`` [N, T, input_size] (module docstring).

    Returns the folded LIF network (same dtype/device as ``gpn``, evaluation mode) and
    the fold report (plain data and tensors): per layer the gate statistics summary,
    the folded constants' ranges, the least-squares fit quality, the decay profiles and
    the decay error.
    """
    _check_gpn(gpn)
    check_calibration(gpn, calib_x)
    ref = next(gpn.parameters())
    n_batches = math.ceil(calib_x.shape[0] / config.batch_size)
    stats = gate_statistics(gpn, _batches(calib_x, config.batch_size, ref.device, ref.dtype),
                            progress=progress, total=n_batches)
    folded_layers, layer_reports = [], []
    for layer, st in zip(gpn.layers, stats):
        if config.method == "mean":
            gates, fit = st.mean_constants(), None
        else:
            gates, fit = st.lsq_constants()
        syn_b = None if layer.synapse.bias is None else layer.synapse.bias.detach().double().cpu().numpy()
        fl = fold_layer(layer.synapse.weight.detach().double().cpu().numpy(), syn_b, gates)
        clusters = cluster_decays(fl.dv, config.clusters)
        folded_layers.append(FoldedLayer(fl.weight, fl.bias, clusters.values, fl.vth))
        rep = {"name": st.name, "size": st.size, **st.summary(),
               "folded": {k: {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
                          for k, v in (("forget", gates.forget), ("input", gates.input), ("bypass", gates.bypass),
                                       ("threshold", gates.threshold), ("row_scale", gates.input / gates.threshold))},
               "per_neuron": {"forget": torch.tensor(gates.forget), "input": torch.tensor(gates.input),
                              "bypass": torch.tensor(gates.bypass), "threshold": torch.tensor(gates.threshold),
                              "dv_unclustered": torch.tensor(fl.dv)},
               "decay": {"param": "dv", **clusters.summary()}}
        if fit is not None:
            rep["lsq_fit"] = fit
        layer_reports.append(rep)
    net = build_folded_network(gpn, folded_layers, learn_decays=config.finetune_decays)
    net.eval()
    report = {"config": config.to_dict(), "calib_samples": int(calib_x.shape[0]), "vth": FOLDED_VTH,
              "layers": layer_reports}
    return net, report


# ----------------------------------------------------------------------------- distillation

def _distill_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, cfg: FoldConfig) -> torch.Tensor:
    if cfg.distill_loss == "kl":
        t = cfg.temperature
        loss = F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), log_target=True,
                        reduction="batchmean") * t * t
    else:
        loss = F.mse_loss(student, teacher)
    if cfg.label_weight > 0:
        loss = loss + cfg.label_weight * F.cross_entropy(student, y)
    return loss


@torch.no_grad()
def logits_of(net: SpikingNetwork, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Evaluation-mode logits [N, n_classes] (float32, CPU) of frames ``x`` [N, T, F]."""
    was = net.training
    net.eval()
    ref = next(net.parameters())
    out = [net(xb).float().cpu() for xb in _batches(x, batch_size, ref.device, ref.dtype)]
    net.train(was)
    return torch.cat(out)


def distill(student: SpikingNetwork, teacher: SpikingNetwork, train, val, config: FoldConfig, *,
            progress: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``student`` (in place) towards ``teacher``'s evaluation-mode logits on
    ``train`` (a :class:`~spikedeploy.training.loop.TensorData`) for ``config.finetune_epochs``
    epochs of Adam; keep the weights of the epoch with the best accuracy on ``val`` (epoch 0,
    the folded network itself, included, so fine-tuning never lowers it). With
    ``finetune_decays`` the decays learn too and are re-clustered onto ``config.clusters``
    values after every epoch. Returns the history and the best epoch."""
    from tqdm.auto import tqdm

    from ..training.loop import evaluate

    say = log or (lambda msg: None)
    ref = next(student.parameters())
    device, dtype = ref.device, ref.dtype
    teacher_logits = logits_of(teacher, train.x, config.batch_size)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.finetune_lr)
    torch.manual_seed(config.seed * 7919 + 3)
    best = evaluate(student, val, batch_size=max(config.batch_size, 128), device=device)
    history = [{"epoch": 0, "val_acc": best["acc"], "val_loss": best["loss"], "train_loss": None}]
    best_acc, best_epoch = best["acc"], 0
    best_state = copy.deepcopy({k: v.detach().clone() for k, v in student.state_dict().items()})
    n = len(train)
    for epoch in range(1, config.finetune_epochs + 1):
        student.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + epoch))
        total, seen = 0.0, 0
        n_batches = math.ceil(n / config.batch_size)
        for b0 in tqdm(range(0, n, config.batch_size), total=n_batches, desc=f"distill {epoch}/{config.finetune_epochs}",
                       unit="batch", leave=False, disable=not progress):
            idx = perm[b0:b0 + config.batch_size]
            x, y = train.batch(idx, device)
            loss = _distill_loss(student(x.to(dtype)), teacher_logits[idx].to(device, dtype), y, config)
            if not torch.isfinite(loss):
                from ..errors import TrainingError
                raise TrainingError(f"the distillation loss is not finite ({float(loss)})", epoch=epoch,
                                    remedy="lower the fine-tuning learning rate (--lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        if config.finetune_decays:
            with torch.no_grad():
                recluster_(student, config.clusters)
        m = evaluate(student, val, batch_size=max(config.batch_size, 128), device=device)
        rec = {"epoch": epoch, "train_loss": total / max(seen, 1), "val_acc": m["acc"], "val_loss": m["loss"],
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        improved = m["acc"] > best_acc
        if improved:
            best_acc, best_epoch = m["acc"], epoch
            best_state = {k: v.detach().clone() for k, v in student.state_dict().items()}
        say(f"distill epoch {epoch}: loss {rec['train_loss']:.4f} | val acc {m['acc']:.4f}"
            f"{' *' if improved else ''} | {rec['seconds']:.1f} s")
    student.load_state_dict(best_state)
    student.eval()
    return {"history": history, "best_epoch": best_epoch, "best_val_acc": best_acc}


# ----------------------------------------------------------------------------- from files

@dataclass
class FoldResult:
    """What :func:`run_fold` produced: the checkpoint path and the full report."""

    checkpoint: Path
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def accuracy(self) -> dict[str, dict[str, float]]:
        return self.report["accuracy"]


def _accuracy(net: SpikingNetwork, data, batch_size: int, device) -> dict[str, float]:
    from ..training.loop import evaluate

    m = evaluate(net, data, batch_size=max(batch_size, 128), device=device)
    return {"acc": m["acc"], "loss": m["loss"], "rates": m["rates"]}


def _check_data_dir(data_dir: Path) -> None:
    if not data_dir.exists():
        raise DataFormatError(data_dir, "data folder not found", remedy=_REMEDY_DATA)
    if not data_dir.is_dir():
        raise DataFormatError(data_dir, "not a folder", remedy=_REMEDY_DATA)


def _fold_s2net(net, calib_x, config, progress=False):
    from .fold_s2net import fold_s2net

    return fold_s2net(net, calib_x, config, progress=progress)


def _fold_pr_v2(net, calib_x, config, progress=False):
    from .fold_pr import fold_pr_v2

    return fold_pr_v2(net, calib_x, config, progress=progress)


#: Folds by hidden neuron kind: ``fn(net, calib_x, config, progress=...) -> (network, report)``.
#: The folded network is LIF / CUBA-LIF (what the quantiser, NIR export and Lava take).
FOLDERS: dict[str, Callable[..., tuple[SpikingNetwork, dict[str, Any]]]] = {
    "gpn": fold_gpn,
    "s2net": _fold_s2net,
    "pr-v2": _fold_pr_v2,
}


def fold_network(net: SpikingNetwork, calib_x: torch.Tensor, config: FoldConfig = FoldConfig(), *,
                 progress: bool = False) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Fold ``net`` with the fold of its neuron kind (:data:`FOLDERS`); ConfigError for a kind
    that has no fold (LIF / CUBA-LIF networks need none)."""
    kind = net.config.neuron
    if kind not in FOLDERS:
        raise ConfigError("model.neuron", f"a {kind!r} network has no fold", valid=sorted(FOLDERS),
                          remedy="LIF / CUBA-LIF networks go to the quantiser and export-nir directly")
    folded, report = FOLDERS[kind](net, calib_x, config, progress=progress)
    report.setdefault("kind", kind)
    report.setdefault("config", config.to_dict())
    report.setdefault("calib_samples", int(calib_x.shape[0]) if calib_x is not None else 0)
    return folded, report


def load_foldable_checkpoint(path: str | Path) -> tuple[SpikingNetwork, dict[str, Any]]:
    """:func:`~spikedeploy.training.checkpoint.load_checkpoint`, refusing a network that has
    no fold (:data:`FOLDERS`)."""
    from ..training.checkpoint import load_checkpoint

    net, meta = load_checkpoint(path)
    if net.config.neuron not in FOLDERS:
        raise CheckpointError(path, f"holds a {net.config.neuron!r} network; folding needs a network of "
                                    f"{', '.join(sorted(FOLDERS))} neurons",
                              remedy="fold a checkpoint trained with a GPN, s2net or pr-v2 preset (e.g. "
                                     "`spikedeploy train --preset gpn-small`); LIF/CUBA-LIF checkpoints go to the "
                                     "quantiser directly")
    return net, meta


def run_fold(checkpoint: str | Path, data_dir: str | Path, out: str | Path, config: FoldConfig = FoldConfig(), *,
             device: str = "cpu", progress: bool = True,
             log: Callable[[str], None] | None = None) -> FoldResult:
    """Fold the network in ``checkpoint`` (a GPN, s2net or pr-v2 network: :data:`FOLDERS`)
    with statistics from ``data_dir``'s training split, optionally fine-tune it, and save it
    to ``out`` (atomically) as a LIF / CUBA-LIF checkpoint whose ``extra["fold"]`` holds the
    report (accuracy of the source network - under its kind, e.g. ``"gpn"`` - the folded and
    the fine-tuned network on the validation split and the test file).

    The data are binned as the checkpoint's ``binning`` says, split with the source's own
    training seed and validation fraction (so the calibration and fine-tuning samples are
    its training samples, never its validation or test samples).
    """
    from ..atomic import check_output_path
    from ..data.shd import BinningConfig
    from ..training.checkpoint import save_checkpoint
    from ..training.config import TrainConfig
    from ..training.distributed import pick_device
    from ..training.loop import TensorData, load_split

    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    checkpoint, data_dir, out = Path(checkpoint), Path(data_dir), Path(out)
    check_output_path(out)
    if out.exists() and checkpoint.exists() and out.resolve() == checkpoint.resolve():
        raise ConfigError("output", f"{out} is the input checkpoint", remedy="write the folded model to another file")
    gpn, meta = load_foldable_checkpoint(checkpoint)
    kind = gpn.config.neuron
    _check_data_dir(data_dir)
    binning = meta.get("binning") or BinningConfig()
    train_cfg = meta.get("training") or {}
    tc = TrainConfig.from_dict(train_cfg) if train_cfg else TrainConfig()
    train, val, test, binning, info = load_split(data_dir, binning, gpn.config, tc.val_fraction, tc.seed,
                                                 progress=progress)
    dev = pick_device(device)
    gpn.to(dev).eval()
    gen = torch.Generator().manual_seed(config.seed)
    n_cal = len(train) if config.calib_samples == 0 else min(config.calib_samples, len(train))
    cal_idx = torch.randperm(len(train), generator=gen)[:n_cal].sort().values
    say(f"folding {kind} {list(gpn.config.hidden)} with statistics of {n_cal} training samples, "
        f"K = {config.clusters} decay profiles")
    net, report = fold_network(gpn, train.x[cal_idx], config, progress=progress)
    bs = config.batch_size
    acc = {kind: {"val": _accuracy(gpn, val, bs, dev), "test": _accuracy(gpn, test, bs, dev)},
           "folded": {"val": _accuracy(net, val, bs, dev), "test": _accuracy(net, test, bs, dev)}}
    gpn_test_logits = logits_of(gpn, test.x, bs)
    agree = {"folded": float((logits_of(net, test.x, bs).argmax(1) == gpn_test_logits.argmax(1)).float().mean())}
    finetune = None
    if config.finetune_epochs > 0:
        finetune = distill(net, gpn, TensorData(train.x, train.y), val, config, progress=progress, log=say)
        acc["finetuned"] = {"val": _accuracy(net, val, bs, dev), "test": _accuracy(net, test, bs, dev)}
        agree["finetuned"] = float((logits_of(net, test.x, bs).argmax(1) == gpn_test_logits.argmax(1)).float().mean())
        if config.finetune_decays:
            for rep, layer in zip(report["layers"], net.layers):
                param = rep["decay"].get("param", "dv")
                cl = cluster_decays(layer.neuron.neuron_params()[param].double().numpy(), config.clusters)
                rep["decay_after_finetune"] = {"param": param, "profiles": [float(c) for c in cl.centres],
                                               "sizes": cl.sizes}
    report["accuracy"] = {stage: {split: {"acc": m["acc"], "loss": m["loss"], "rates": m["rates"]}
                                  for split, m in d.items()} for stage, d in acc.items()}
    report["test_argmax_agreement_with_source"] = agree
    report["finetune"] = finetune
    report["source_checkpoint"] = str(checkpoint)
    report["data"] = info
    report["split"] = {"val_fraction": tc.val_fraction, "seed": tc.seed}
    report["seconds"] = time.perf_counter() - t_start
    final = acc.get("finetuned", acc["folded"])
    metrics = {"test_acc": final["test"]["acc"], "test_loss": final["test"]["loss"],
               "test_firing_rates": final["test"]["rates"], "best_val_acc": final["val"]["acc"],
               "source_test_acc": acc[kind]["test"]["acc"], "source_kind": kind}
    extra = {"fold": report, "source": {"checkpoint": str(checkpoint), "extra": meta.get("extra", {}),
                                        "metrics": {k: v for k, v in (meta.get("metrics") or {}).items()
                                                    if k != "history"}},
             "data": info}
    net_cpu = net.to("cpu", torch.float32)
    saved = save_checkpoint(out, net_cpu, binning=binning, training=None, metrics=metrics, seed=meta.get("seed"),
                            extra=extra)
    return FoldResult(saved, report)


def _gpn_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    g = rep["gates"]
    lines = [f"{rep['name']} ({rep['size']} neurons, GPN firing rate {rep['firing_rate']:.4f}):"]
    for name in ("forget", "input", "bypass", "threshold"):
        s, fo = g[name], rep["folded"][name]
        lines.append(f"  {name:9s} gate mean {s['mean']:+.4f} (per-neuron spread {s['neuron_mean_std']:.4f}, "
                     f"within-neuron std {s['within_neuron_std']:.4f}) -> folded {fo['min']:+.4f}..{fo['max']:+.4f}")
    if "lsq_fit" in rep:
        fit = rep["lsq_fit"]
        lines.append(f"  least-squares update fit: mean R^2 {fit['mean_r2']:.4f} (min {fit['min_r2']:.4f}), "
                     f"forget clipped {fit['forget_clipped']}, input clipped {fit['input_clipped']}")
    return lines


def _s2net_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    lines = [f"{rep['name']} ({rep['size']} s2net neurons, beta {rep['beta']:.4f}, lateral {rep['lateral']}):",
             f"  self-reset: {rep['self_reset']}; recurrent diagonal {rep['self_weight']['min']:+.4f}.."
             f"{rep['self_weight']['max']:+.4f}; thresholds {rep['vth']['min']:.4f}..{rep['vth']['max']:.4f}"]
    sv = rep.get("spike_voltage")
    if sv:
        std = "n/a" if sv["mean_std"] is None else f"{sv['mean_std']:.4f}"
        lines.append(f"  voltage at spike measured for {sv['calibrated_neurons']} neurons, mean within-neuron "
                     f"std {std} (what the expected-remainder reset loses)")
    if rep["dv_clamped"] or rep["vth_clamped"]:
        lines.append(f"  clamped: dv for {rep['dv_clamped']} neurons, vth for {rep['vth_clamped']} neurons")
    return lines


def _pr_layer_lines(rep: Mapping[str, Any]) -> list[str]:
    f, a, o = rep["forget"], rep["amplitude"], rep["outputs"]
    multi = "n/a" if o["multi_level_fraction"] is None else f"{o['multi_level_fraction']:.4f}"
    return [f"{rep['name']} ({rep['size']} pr-v2 neurons, threshold {rep['vth']:.4f}):",
            f"  forget gate mean {f['mean']:.4f} (per-neuron spread {f['neuron_mean_std']:.4f}, within-neuron "
            f"std {f['within_neuron_std']:.4f}) -> du = 1 - f",
            f"  outputs: positive {o['positive_rate']:.4f}, negative {o['negative_rate']:.4f} (dropped) per step; "
            f"{multi} of positive outputs above one level (one spike each)",
            f"  spike amplitude {a['min']:.4f}..{a['max']:.4f} ({a['never_positive']} neurons never positive)",
            f"  candidate pre-activations negative {rep['candidate_negative_fraction']:.4f}: ReLU -> its line, "
            f"slopes {rep['relu_fit']['slope_min']:.4f}..{rep['relu_fit']['slope_max']:.4f}, mean R^2 "
            f"{rep['relu_fit']['mean_r2']:.4f}"]


_LAYER_LINES = {"gpn": _gpn_layer_lines, "s2net": _s2net_layer_lines, "pr-v2": _pr_layer_lines}


def format_report(report: Mapping[str, Any]) -> str:
    """A few readable lines of a fold report (the CLI prints them)."""
    kind = report.get("kind", "gpn")
    lines = list(report.get("notes", []))
    for rep in report["layers"]:
        lines += _LAYER_LINES[kind](rep)
        d = rep["decay"]
        prof = ", ".join(f"{p:.4f} x{n}" for p, n in zip(d["profiles"], d["sizes"]))
        e = d["error"]
        lines.append(f"  decays {d.get('param', 'dv')}: {len(d['profiles'])} profiles [{prof}]")
        lines.append(f"  decay error: max {e['max_abs']:.5f}, rms {e['rms']:.5f}, "
                     f"largest time-constant change {100 * e['max_tau_rel']:.2f} %")
    acc = report.get("accuracy", {})
    for stage in (kind, "folded", "finetuned"):
        if stage in acc:
            a = acc[stage]
            lines.append(f"{stage:10s} accuracy: val {a['val']['acc']:.4f}  test {a['test']['acc']:.4f}  "
                         f"(test firing rates {[round(r, 4) for r in a['test']['rates']]})")
    return "\n".join(lines)


def plot_decays(report: Mapping[str, Any], path: str | Path) -> Path:
    """A PNG of each layer's folded decays: the per-neuron ``dv`` before clustering (histogram)
    and the K profiles they were clustered onto (vertical lines, labelled with their sizes).
    Written atomically; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..atomic import atomic_path

    layers = report["layers"]
    fig, axes = plt.subplots(len(layers), 1, figsize=(7, 2.6 * len(layers)), squeeze=False)
    for ax, rep in zip(axes[:, 0], layers):
        d = rep["decay"]
        param = d.get("param", "dv")
        dv = np.asarray(rep["per_neuron"][f"{param}_unclustered"], dtype=np.float64)
        ax.hist(dv, bins=min(60, max(10, dv.size // 4)), color="0.6", label=f"per-neuron {param} (folded)")
        for c, n in zip(d["profiles"], d["sizes"]):
            ax.axvline(c, color="C3", lw=1.2)
            ax.text(c, ax.get_ylim()[1] * 0.92, f" {n}", color="C3", fontsize=8, va="top")
        e = d["error"]
        ax.set_title(f"{rep['name']}: {len(d['profiles'])} decay profiles (red), max |{param} error| "
                     f"{e['max_abs']:.4f}, rms {e['rms']:.4f}", fontsize=9)
        ax.set_xlabel(f"{param} = 1 - forget gate" if rep.get("kind", "gpn") != "s2net" else "dv = 1 - beta")
        ax.set_ylabel("neurons")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)
