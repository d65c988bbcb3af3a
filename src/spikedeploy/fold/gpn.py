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

Public API: :func:`gate_statistics` (the GPN on calibration data -> each gate's
per-neuron statistics, :class:`LayerGateStats`), :class:`GateConstants` and
:func:`fold_layer` (the algebra: constant gates -> LIF rows), and :func:`fold_gpn`
(all of it on an in-memory network -> (LIF network, report)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..models.networks import HiddenLayer, NetworkConfig, SpikingNetwork, build_network
from .common import FoldConfig, batches, check_calibration, cluster_decays

#: The shared threshold of every folded neuron (rows are scaled by 1 / th).
FOLDED_VTH = 1.0
#: The forget gate is kept in [F_MIN, F_MAX] so that dv = 1 - f lies strictly inside (0, 1).
F_MIN, F_MAX = 1e-4, 1.0 - 1e-4
#: Ridge of the least-squares fit, relative to the mean diagonal of its normal matrix; it
#: pulls a neuron with too little data towards its mean-gate values.
LSQ_RIDGE = 1e-6


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
    sig, tanh = neuron.gate_functions()             # the paper's, or a hardware-friendly GPN's hard gates
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
        f, i = sig(f_pre), sig(i_pre)
        h = f * v + i * x_tm[t]
        th = sig(th_pre)
        s = (h - th >= 0).to(h.dtype)
        b = tanh(b_pre)
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
    stats = gate_statistics(gpn, batches(calib_x, config.batch_size, ref.device, ref.dtype),
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
