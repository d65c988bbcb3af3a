"""Folding Ponghiran & Roy's improved-recurrence neurons (pr-v2) into CUBA-LIF neurons.

A pr-v2 layer (:mod:`spikedeploy.models.neurons.pr_rnn`) per step::

    [a_f, a_c] = BN(W x_t) + U Y_{t-1}
    I_t = F I_{t-1} + (1 - F) C,   F = sigmoid(a_f),   C = ReLU(a_c)
    V_t = V_{t-1} + I_t ;  Y_t = Q(V_t) ;  V_t -= Y_t          (graded, signed outputs)

Loihi's CUBA-LIF neuron is the same shape with constants in place of the gate::

    u_t = (1 - du) u_{t-1} + W' x_t + R s_{t-1} ;  v_t = (1 - dv) v_{t-1} + u_t + bias
    s_t = [v_t > vth] ;  v_t = 0 where s_t                     (binary outputs)

The fold, per neuron ``i`` (the approximations are listed; the report measures them):

- the forget gate becomes its mean over calibration data: ``du_i = 1 - f_i``, clustered onto
  at most K values (one Lava process per value) - approximation 1 (the gate moves);
- the candidate's ReLU becomes its least-squares line on calibration data,
  ``ReLU(a_c) ~ alpha_i a_c + gamma_i`` per neuron (``alpha = cov(ReLU(a), a) / var(a)``;
  alpha = 1, gamma = 0 when the candidate never goes negative) - approximation 2 (the
  report gives the fraction of negative candidate pre-activations and the fit's R^2); the
  batch norm is an affine map in evaluation mode, so
  ``W'_i = (1 - f_i) alpha_i bn_scale_i W_c,i`` (row scaling) and the constant part
  ``alpha_i (bn_scale_i c_i + bn_shift_i) + gamma_i`` (``c`` a synapse bias) is a constant
  current whose steady state becomes the voltage bias - approximation 3 (the first
  ``~1 / du`` steps);
- the membrane has no leak: ``dv = DV_PR`` (Loihi rounds it to 0, no decay);
- the multi-bit quantiser becomes a binary spike: the smallest emitted level is
  ``(threshold + 1) / scale``, which is the threshold ``vth``; each spike stands for the
  neuron's mean positive output ``a_i`` (calibration), so every weight that reads the
  layer (the recurrent ``R = (1 - f) alpha U_c diag(a)``, the next layer, the readout) has its
  column ``i`` scaled by ``a_i`` - approximation 4 (negative outputs are dropped and
  large outputs emit one spike: the report gives both fractions); the soft reset by
  the emitted value becomes the reset to zero;
- an input quantiser (models converted from the authors' code) is dropped: the folded
  network reads the frames - approximation 5.

Distillation towards the pr-v2 network's logits (``spikedeploy fold --finetune-epochs``)
recovers part of what the approximations lose; the accuracy chain is in
docs/benchmarks.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..models.networks import SpikingNetwork, build_network
from ..models.neurons.pr_rnn import pr_v2_step
from .common import FoldConfig, calibration_batches, cluster_decays

#: The folded voltage decay (the pr-v2 membrane does not leak; 1/4096 rounds to Loihi's dv = 0).
DV_PR = 1.0 / 8192
#: The forget gate is kept in [F_MIN, F_MAX] so that du = 1 - f lies strictly inside (0, 1).
F_MIN, F_MAX = 1e-4, 1.0 - 1e-4


def _check_pr(net: SpikingNetwork) -> None:
    if net.config.neuron != "pr-v2":
        raise ConfigError("model.neuron", f"expected a pr-v2 network, got {net.config.neuron!r}")


def folded_config(config, learn_decays: bool = False):
    """The CUBA-LIF network a pr-v2 network folds into: same sizes, readout and dropout;
    recurrent CUBA-LIF neurons with a voltage bias, fixed thresholds."""
    return config.replace(neuron="cuba-lif", recurrent=True, synapse_bias=False, neuron_bias=True, input_quant=False,
                          learn_thresholds=False, learn_decays=learn_decays)


@torch.no_grad()
def pr_statistics(net: SpikingNetwork, batches) -> list[dict[str, np.ndarray]]:
    """Run ``net`` (pr-v2, evaluation mode) on the frame batches and return per layer and
    neuron: the mean forget gate ``forget`` and its within-neuron std ``forget_std``, the
    mean positive output ``amplitude`` (NaN where never positive), the fractions of steps
    with positive / negative outputs, of positive outputs above the smallest level, and of
    negative candidate pre-activations; and the least-squares line of the candidate's ReLU
    on its pre-activation, ``relu_slope`` and ``relu_offset``, with its ``relu_r2``."""
    acc: list[dict[str, torch.Tensor] | None] = [None] * len(net.layers)
    steps = [0] * len(net.layers)
    for x in batches:
        h = x if net.input_quant is None else net.input_quant(x)
        for k, layer in enumerate(net.layers):
            pop = layer.neuron
            p = pop.params()
            c = pop.size
            level = (float(pop.threshold) + 1.0) / float(p.scale)
            drive = pop._normalise(layer.synapse(h))
            st = pop.initial_state(h.shape[0], h.device, h.dtype)
            a = acc[k] or {name: torch.zeros(c, dtype=torch.float64)
                           for name in ("f1", "f2", "pos", "neg", "amp", "multi", "cneg", "a1", "a2", "r1",
                                        "ra", "r2")}
            out = []
            for x_t in drive.transpose(0, 1).unbind(0):
                pre = torch.addmm(x_t, st.y, p.w_rec.t())
                f_pre, c_pre = pre.chunk(2, dim=-1)
                f = torch.sigmoid(f_pre).double()
                a["f1"] += f.sum(0).cpu()
                a["f2"] += (f * f).sum(0).cpu()
                a["cneg"] += (c_pre < 0).double().sum(0).cpu()
                cd = c_pre.double()
                rd = torch.relu(cd)
                for name, val in (("a1", cd), ("a2", cd * cd), ("r1", rd), ("ra", rd * cd), ("r2", rd * rd)):
                    a[name] += val.sum(0).cpu()
                y, st = pr_v2_step(x_t, st, p)
                yd = y.double()
                pos = (yd > 0).double()
                a["pos"] += pos.sum(0).cpu()
                a["neg"] += (yd < 0).double().sum(0).cpu()
                a["amp"] += (yd * pos).sum(0).cpu()
                a["multi"] += (yd > level + 0.5 / float(p.scale)).double().sum(0).cpu()   # above the smallest level
                out.append(y)
            acc[k] = a
            steps[k] += drive.shape[0] * drive.shape[1]
            h = torch.stack(out, 1)
    result = []
    for a, n in zip(acc, steps):
        ma, mr = a["a1"] / n, a["r1"] / n
        var_a = torch.clamp(a["a2"] / n - ma * ma, min=0)
        cov = a["ra"] / n - mr * ma
        fit = var_a > 1e-12 * torch.clamp(a["a2"] / n, min=1e-300)
        slope = torch.where(fit, cov / torch.where(fit, var_a, torch.ones_like(var_a)), torch.ones_like(var_a))
        offset = torch.where(fit, mr - slope * ma, mr - ma)
        var_r = torch.clamp(a["r2"] / n - mr * mr, min=0)
        # R^2 of the line: explained / total variance of ReLU(a) (1 where ReLU(a) is constant)
        r2 = torch.where(var_r > 0, slope * slope * var_a / torch.where(var_r > 0, var_r, torch.ones_like(var_r)),
                         torch.ones_like(var_r))
        mean_f = a["f1"] / n
        with np.errstate(invalid="ignore", divide="ignore"):
            amp = (a["amp"] / a["pos"]).numpy()
            multi = (a["multi"] / a["pos"]).numpy()
        result.append({"forget": mean_f.numpy(),
                       "forget_std": torch.sqrt(torch.clamp(a["f2"] / n - mean_f ** 2, min=0)).numpy(),
                       "amplitude": amp, "pos_rate": (a["pos"] / n).numpy(), "neg_rate": (a["neg"] / n).numpy(),
                       "multi_level": multi, "cand_negative": (a["cneg"] / n).numpy(),
                       "relu_slope": slope.numpy(), "relu_offset": offset.numpy(),
                       "relu_r2": torch.clamp(r2, max=1.0).numpy()})
    return result


@torch.no_grad()
def fold_pr_v2(net: SpikingNetwork, calib_x: torch.Tensor, config: Any = None, *,
               progress: bool = False) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Fold ``net`` (pr-v2 hidden layers) with statistics from ``calib_x`` [N, T, input_size]
    (module docstring). ``config``: a FoldConfig (``clusters``, ``batch_size``,
    ``finetune_decays``). Returns the CUBA-LIF network (evaluation mode, same device and
    dtype) and the report."""
    _check_pr(net)
    cfg = config if config is not None else FoldConfig()
    batches = calibration_batches(net, calib_x, cfg.batch_size, progress=progress, desc="pr-v2 gate statistics")
    ref = next(net.parameters())
    was = net.training
    net.eval()
    stats = pr_statistics(net, batches)
    net.train(was)
    student = build_network(folded_config(net.config, cfg.finetune_decays)).to(ref.device, ref.dtype)
    layers, prev_amp = [], None
    for k, (src, dst, st) in enumerate(zip(net.layers, student.layers, stats)):
        pop = src.neuron
        c = pop.size
        p = pop.neuron_params()
        w = src.synapse.weight.detach().double().cpu().numpy()          # [2C, n_in]
        syn_b = src.synapse.bias
        shift_in = np.zeros(2 * c) if syn_b is None else syn_b.detach().double().cpu().numpy()
        bn_scale = p["bn_scale"].double().numpy() if "bn_scale" in p else np.ones(2 * c)
        bn_shift = p["bn_shift"].double().numpy() if "bn_shift" in p else np.zeros(2 * c)
        u = p["w_rec"].double().numpy()                                   # [2C, C]
        f = np.clip(st["forget"], F_MIN, F_MAX)
        clusters = cluster_decays(1.0 - f, cfg.clusters)
        du = clusters.values
        keep = 1.0 - du                                                   # the clustered forget gate
        level = (float(p["q_threshold"]) + 1.0) / float(p["q_scale"])
        amp = np.where(np.isfinite(st["amplitude"]), st["amplitude"], level)
        w_c, u_c = w[c:], u[c:]
        alpha, gamma = st["relu_slope"], st["relu_offset"]
        w_in = ((1.0 - keep) * alpha)[:, None] * bn_scale[c:, None] * w_c
        if prev_amp is not None:
            w_in = w_in * prev_amp[None, :]
        rec = ((1.0 - keep) * alpha)[:, None] * u_c * amp[None, :]
        bias = alpha * (bn_scale[c:] * shift_in[c:] + bn_shift[c:]) + gamma
        dst.synapse.weight.copy_(torch.as_tensor(w_in, dtype=ref.dtype))
        dst.recurrent.weight.copy_(torch.as_tensor(rec, dtype=ref.dtype))
        dst.neuron.set_neuron_params(du=torch.as_tensor(du), dv=torch.full((c,), DV_PR),
                                     vth=torch.full((c,), level), bias=torch.as_tensor(bias))
        prev_amp = amp
        never = int((~np.isfinite(st["amplitude"])).sum())
        layers.append({
            "name": f"hidden{k}", "size": c, "kind": "pr-v2", "vth": level,
            "forget": {"mean": float(st["forget"].mean()), "neuron_mean_std": float(st["forget"].std()),
                       "within_neuron_std": float(st["forget_std"].mean())},
            "amplitude": {"mean": float(np.nanmean(st["amplitude"])) if never < c else None,
                          "min": float(amp.min()), "max": float(amp.max()), "never_positive": never},
            "outputs": {"positive_rate": float(st["pos_rate"].mean()), "negative_rate": float(st["neg_rate"].mean()),
                        "multi_level_fraction": float(np.nanmean(st["multi_level"])) if never < c else None},
            "candidate_negative_fraction": float(st["cand_negative"].mean()),
            "relu_fit": {"slope_min": float(alpha.min()), "slope_max": float(alpha.max()),
                         "mean_r2": float(st["relu_r2"].mean()), "min_r2": float(st["relu_r2"].min())},
            "per_neuron": {"du_unclustered": torch.as_tensor(1.0 - f), "forget": torch.as_tensor(st["forget"]),
                           "amplitude": torch.as_tensor(amp), "relu_slope": torch.as_tensor(alpha),
                           "relu_offset": torch.as_tensor(gamma)},
            "decay": {"param": "du", **clusters.summary()},
        })
    # The readout reads the last layer's outputs: scale its columns by their amplitudes.
    student.readout.load_state_dict(net.readout.state_dict())
    student.readout.synapse.weight.mul_(torch.as_tensor(prev_amp, dtype=ref.dtype)[None, :])
    student.eval()
    notes = ["pr-v2 fold (approximate): forget gates -> per-neuron current decays (clustered), candidate "
             "ReLU -> its least-squares line, graded signed outputs -> binary spikes of the mean positive amplitude, soft "
             "reset -> reset to zero, batch-norm shift -> voltage bias (steady state)"]
    if net.input_quant is not None:
        notes.append("the input quantiser is dropped: the folded network reads the frames themselves (its statistics "
                     "were measured on the quantised input)")
    return student, {"kind": "pr-v2", "exact": False, "notes": notes, "layers": layers}
