"""Folding an s2net network (Zimmer et al.) into a Loihi LIF network.

An s2net dense layer (:mod:`spikedeploy.models.neurons.s2net`) reads its own synaptic
weight ``W`` twice: as the input weight and, through ``D = W W^T``, as the reset and the
lateral inhibition. Loihi's neuron has no such coupling, but all of it is linear in the
spikes, so it becomes ordinary weights. Scaling each neuron's voltage by
``1 / (||w_i||^2 + eps)`` (the s2net firing condition divides by it)::

    s2net:  v_t = (v_{t-1} - s_{t-1} @ D) beta + (1 - beta) (W in_t + V s_{t-1})
            s_t = [v_t / (||w||^2 + eps) > b]
    LIF:    V_t = (1 - dv) (1 - s_{t-1}) V_{t-1} + W' in_t + R s_{t-1} ;  s_t = [V_t > vth]

    with    V = v / (||w||^2 + eps),   dv = 1 - beta,   vth = b   (then normalised, below),
            W' = (1 - beta) diag(1 / (||w||^2 + eps)) W,
            R  = diag(1 / (||w||^2 + eps)) ((1 - beta) V - beta (D - diag D))

The off-diagonal terms of ``D`` (the Deneve lateral inhibition) are the recurrent weight
``R``; the decay is one value per layer (``beta`` is a layer scalar), so each layer is one
Lava LIF process.

What does not carry over exactly is the **self-reset**. A network trained with
``s2net_reset = "zero"`` folds exactly (the same spikes, float rounding aside: ``R``'s
diagonal is 0). The paper's reset subtracts ``r_i`` from a neuron that fired
(``r_i = ||w_i||^2 / (||w_i||^2 + eps)``, about 1, with lateral connections; ``b_i`` (up
to eps) without), so the next step starts from ``beta (V_spike - r_i)``; Loihi resets to zero. The
fold puts the expected remainder on ``R``'s diagonal::

    R_ii = beta (m_i - r_i)      m_i = mean scaled voltage of neuron i when it fires

with ``m_i`` measured on calibration data (``b_i``, the threshold, for a neuron that never
fired or without data; without lateral connections and data the diagonal is then 0:
the reset to zero is the remainder of a spike at threshold). It is exact when every spike of neuron i happens at voltage
``m_i``; the spread of the voltage at spike (reported per layer) is what is lost. The
report gives the accuracy before and after; ``spikedeploy fold`` can fine-tune it by
distillation.

Lava's LIF holds one threshold per process, so the per-neuron thresholds ``b_i`` are
folded too: a LIF with reset to zero is linear below threshold, so dividing neuron i's
voltage by ``b_i`` (its rows of ``W'``, ``R`` by ``b_i``) gives the same spikes with
``vth = 1`` for every neuron: each layer is then ONE Lava LIF process.

Two clamps keep the LIF valid, each counted in the report: ``dv`` inside (0, 1) (beta = 0
or 1 has no LIF decay) and ``b_i >= VTH_MIN`` (s2net allows ``b = 0``: fire on any
positive voltage).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..models.networks import SpikingNetwork, build_network
from ..models.neurons.s2net import EPS, RESETS, s2net_step
from .common import calibration_batches, voltage_at_spike

#: The smallest folded threshold (s2net's b may be 0; Loihi's vth must be positive).
VTH_MIN = 1e-3
#: The folded decay is kept inside (DV_MIN, 1 - DV_MIN).
DV_MIN = 1e-4


def _check_s2net(net: SpikingNetwork) -> None:
    if net.config.neuron != "s2net":
        raise ConfigError("model.neuron", f"expected an s2net network, got {net.config.neuron!r}")


def fold_s2net_layer(weight: np.ndarray, beta: float, b: np.ndarray, d: np.ndarray | None,
                     w_rec: np.ndarray | None, *, reset: str = "subtract",
                     spike_v: np.ndarray | None = None, norm: np.ndarray | None = None) -> dict[str, Any]:
    """The LIF form of one s2net layer (module docstring), float64. ``d`` = W W^T with
    lateral connections (else None); ``spike_v`` [C]: each neuron's mean scaled voltage
    when it fires (NaN: never fired; None: no calibration), used for the subtractive reset.
    ``norm`` [C]: ``||w_i||^2`` when it is not the rows' own (a convolution's dense form, whose
    edge rows are shorter than the kernel: :mod:`.s2net_conv`).

    Returns ``weight`` [C, n_in], ``rec_weight`` [C, C] or None, ``dv`` [C], ``vth`` [C] (all
    1: every row is divided by ``threshold`` [C], the clamped ``b``), ``self_weight`` [C]
    (R's self terms, divided likewise), ``norm`` [C] (``||w||^2``) and the clamp counts
    ``dv_clamped``, ``vth_clamped`` (neurons)."""
    if reset not in RESETS:
        raise ConfigError("s2net_reset", f"unknown reset {reset!r}", valid=RESETS)
    weight = np.asarray(weight, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = (weight * weight).sum(1) if norm is None else np.asarray(norm, dtype=np.float64)
    scale = 1.0 / (norm + EPS)
    c = weight.shape[0]
    w_in = (1.0 - beta) * scale[:, None] * weight
    rec = np.zeros((c, c))
    if d is not None:
        rec -= beta * np.asarray(d, dtype=np.float64)
    if w_rec is not None:
        rec += (1.0 - beta) * np.asarray(w_rec, dtype=np.float64)
    rec = scale[:, None] * rec
    # The self terms: D's diagonal (the s2net self-reset, r_i after scaling) is replaced by
    # the reset to zero plus the expected remainder beta (m_i - r_i).
    r = norm * scale if d is not None else b      # (b ||w||^2 scale = b up to eps)
    if reset == "zero":
        self_w = np.zeros(c)
    else:
        m = b.copy() if spike_v is None else np.where(np.isfinite(spike_v), spike_v, b)
        self_w = beta * (m - r)
    own = (1.0 - beta) * scale * np.diagonal(np.asarray(w_rec, dtype=np.float64)) if w_rec is not None else 0.0
    np.fill_diagonal(rec, own + self_w)
    if d is None and w_rec is None and not np.any(self_w):
        rec = None
    dv_raw = 1.0 - beta
    dv = float(np.clip(dv_raw, DV_MIN, 1.0 - DV_MIN))
    th = np.maximum(b, VTH_MIN)
    # one threshold per layer: neuron i's voltage divided by its threshold (rows / th_i)
    w_in = w_in / th[:, None]
    if rec is not None:
        rec = rec / th[:, None]
    return {"weight": w_in, "rec_weight": rec, "dv": np.full(c, dv), "vth": np.ones(c), "threshold": th,
            "self_weight": self_w / th, "dv_clamped": c if dv != dv_raw else 0,
            "vth_clamped": int((b < VTH_MIN).sum()), "norm": norm}


def folded_config(config, recurrent: bool):
    """The LIF network an s2net network folds into: same sizes, readout and dropout; LIF
    neurons (recurrent when any folded layer has a recurrent weight), no bias, thresholds
    and decays fixed (distillation moves the weights and the readout)."""
    return config.replace(neuron="lif", recurrent=bool(recurrent), synapse_bias=False, neuron_bias=False,
                          learn_thresholds=False, learn_decays=False)


def _s2net_runner(layer):
    """The s2net step with its parameters (D = W W^T) built once, and the scaled voltage
    ``v / (||w||^2 + eps)`` the fold reads."""
    pop = layer.neuron
    p = pop.params()
    return (lambda x_t, st: s2net_step(x_t, st, p, pop.surrogate)), (lambda st: st.v / (p.norm + EPS))


def spike_voltages(net: SpikingNetwork, batches) -> list[dict[str, np.ndarray]]:
    """Run ``net`` (an s2net network, evaluation semantics) on the frame batches and return,
    per layer, each neuron's mean and std of the scaled voltage ``v / (||w||^2 + eps)`` at
    the steps it fires (NaN where it never fired) and its spike count."""
    return voltage_at_spike(net, batches, _s2net_runner)


@torch.no_grad()
def fold_s2net(net: SpikingNetwork, calib_x: torch.Tensor | None = None, config: Any = None, *,
               progress: bool = False) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Fold every s2net layer of ``net`` into a LIF layer (module docstring); the readout
    is copied unchanged. ``calib_x`` [N, T, input_size] frames measure the voltage at spike
    for the subtractive reset (not needed, and not used, for ``s2net_reset = "zero"``);
    ``config`` (a FoldConfig) gives the batch size. Returns the LIF network (evaluation
    mode, same device and dtype) and the report."""
    _check_s2net(net)
    ref = next(net.parameters())
    reset = net.config.s2net_reset
    exact = reset == "zero"
    stats = None
    if not exact and calib_x is not None:
        batches = calibration_batches(net, calib_x, getattr(config, "batch_size", 64), progress=progress,
                                      desc="s2net voltage at spike")
        was = net.training
        net.eval()
        stats = spike_voltages(net, batches)
        net.train(was)
    params = [src.neuron.neuron_params() for src in net.layers]
    folded = []
    for k, (src, p) in enumerate(zip(net.layers, params)):
        w = src.synapse.weight.detach().double().cpu().numpy()
        rec = src.neuron.recurrent
        folded.append(fold_s2net_layer(w, float(p["beta"]), p["b"].double().cpu().numpy(),
                                       None if "d" not in p else p["d"].double().cpu().numpy(),
                                       None if rec is None else rec.weight.detach().double().cpu().numpy(),
                                       reset=reset, spike_v=None if stats is None else stats[k]["mean"]))
    recurrent = any(fl["rec_weight"] is not None for fl in folded)
    student = build_network(folded_config(net.config, recurrent)).to(ref.device, ref.dtype)
    layers = []
    for k, (src, dst, fl, p) in enumerate(zip(net.layers, student.layers, folded, params)):
        dst.synapse.weight.copy_(torch.as_tensor(fl["weight"], dtype=ref.dtype))
        if dst.recurrent is not None:
            dst.recurrent.weight.copy_(torch.as_tensor(fl["rec_weight"] if fl["rec_weight"] is not None
                                                       else np.zeros((src.size, src.size)), dtype=ref.dtype))
        dst.neuron.set_neuron_params(dv=torch.as_tensor(fl["dv"]), vth=torch.as_tensor(fl["vth"]))
        dv = float(fl["dv"][0])
        layers.append({
            "name": f"hidden{k}", "size": src.size, "kind": "s2net",
            "beta": float(p["beta"]), "lateral": "d" in p,
            "self_reset": "zero (exact)" if exact else "subtractive -> zero + expected remainder (approximation)",
            "self_weight": {"min": float(fl["self_weight"].min()), "max": float(fl["self_weight"].max())},
            "spike_voltage": None if stats is None else {
                "calibrated_neurons": int(np.isfinite(stats[k]["mean"]).sum()),
                "mean_std": float(np.nanmean(stats[k]["std"])) if np.isfinite(stats[k]["mean"]).any() else None},
            "dv_clamped": fl["dv_clamped"], "vth_clamped": fl["vth_clamped"],
            "norm": {"min": float(fl["norm"].min()), "max": float(fl["norm"].max())},
            "vth": {"min": float(fl["threshold"].min()), "max": float(fl["threshold"].max())},
            "per_neuron": {"dv_unclustered": torch.as_tensor(fl["dv"])},
            "decay": {"param": "dv", "profiles": [dv], "sizes": [src.size],
                      "error": {"max_abs": 0.0, "rms": 0.0, "max_tau_rel": 0.0}},
        })
    student.readout.load_state_dict(net.readout.state_dict())
    student.eval()
    notes = ["s2net fold: exact (the network was trained with s2net_reset = 'zero')" if exact else
             "s2net fold: the subtractive self-reset becomes Loihi's reset to zero plus the expected "
             "remainder on the recurrent diagonal" + ("" if stats is not None else " (no calibration data: "
                                                      "the remainder assumes spikes at threshold)") +
             "; train with s2net_reset = 'zero' for an exact fold"]
    return student, {"kind": "s2net", "exact": exact, "notes": notes, "layers": layers}
