"""Folding the parts of a LIF / CUBA-LIF network that Loihi's neuron lacks (converted models).

Networks converted from other tools (:mod:`spikedeploy.foreign`) compute their source's
forward pass exactly, which can leave two things Loihi's neuron does not have:

- **a synapse bias on a CUBA-LIF layer** (``du < 1``; snnTorch's Synaptic, norse's
  LIFCell, hr-GPN-SNN's RLIF with an ``nn.Linear`` bias): a constant current ``c``
  through the current decay, ``u`` rising to ``c / du``. The fold adds its steady state
  ``c / du`` to the voltage bias: exact for ``du = 1``, and for ``du < 1`` wrong only in
  the first steps (the current's rise, ``(1 - du)^t`` of it missing);
- **the reset by subtraction** (snnTorch's default): after a spike at voltage ``v`` the
  next step starts from ``(1 - dv) v - vth`` where Loihi starts from 0. The fold resets
  to zero and adds the expected remainder as a self-connection, from the mean voltage
  at spike ``m_i`` measured on calibration data (the threshold when a neuron never fired
  or without data): ``R_ii = du ((1 - dv) m_i - vth)`` (for ``du < 1`` the same total
  charge, spread over the current's decay). That is exact when every spike of a neuron
  happens at ``m_i``; a neuron whose voltage runs away under strong input (it fires every
  step while its voltage climbs far above threshold, which subtraction allows) gets a
  large remainder that is wrong for its other spikes. So three remainders are built
  (:data:`REMAINDERS`: that one, the same clipped to ``+-vth``, and none: a plain reset to
  zero) and the fold keeps the one whose predictions agree most with the source's on the
  calibration frames; the report gives all three agreements and the spread of the voltage
  at spike.

Everything else (weights, decays, thresholds, the recurrent weight, the readout) is
copied. The fold stage measures the accuracy before and after (docs/folding.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..models.networks import SpikingNetwork, build_network
from .common import calibration_batches, voltage_at_spike

KINDS = ("lif", "cuba-lif")


def needs_fold(net: SpikingNetwork) -> list[str]:
    """What in ``net`` Loihi's neuron lacks (empty: nothing, the network exports as it is)."""
    why = []
    if net.config.reset != "zero":
        why.append(f"reset {net.config.reset!r}")
    for k, layer in enumerate(net.layers):
        b = layer.synapse.bias
        if b is not None and bool(((b != 0) & (layer.neuron.neuron_params()["du"] != 1)).any()):
            why.append(f"hidden{k}: a synapse bias through the current decay")
    return why


#: How the fold replaces the reset by subtraction (module docstring): the remainder the neuron keeps
#: after a spike, from the mean voltage at spike; the same clipped to +-vth; none (a plain reset to zero).
REMAINDERS = ("mean", "clipped", "none")


def _self_weight(p: dict[str, torch.Tensor], stats: dict[str, np.ndarray] | None, mode: str) -> torch.Tensor:
    du, dv, vth = p["du"], p["dv"], p["vth"]
    if mode == "none":
        return torch.zeros_like(du)
    m = vth.clone() if stats is None else torch.where(torch.as_tensor(np.isfinite(stats["mean"])),
                                                      torch.as_tensor(stats["mean"]), vth)
    rest = (1 - dv) * m - vth
    return du * (torch.maximum(torch.minimum(rest, vth), -vth) if mode == "clipped" else rest)


def _layer(src, dst, stats: dict[str, np.ndarray] | None, subtract: str | None, cuba: bool) -> dict[str, Any]:
    """Fill ``dst`` from ``src``; ``subtract``: the remainder mode for a reset by subtraction (None: none)."""
    p = {k: v.double() for k, v in src.neuron.neuron_params().items()}
    du = p["du"]
    c = src.synapse.bias.detach().double() if src.synapse.bias is not None else torch.zeros_like(du)
    dst.synapse.weight.copy_(src.synapse.weight)
    rec = src.recurrent.weight.detach().double().clone() if src.recurrent is not None else None
    self_w = torch.zeros_like(du)
    if subtract is not None:
        self_w = _self_weight(p, stats, subtract)
        rec = (rec if rec is not None else torch.zeros(src.size, src.size, dtype=torch.float64)) + torch.diag(self_w)
    if dst.recurrent is not None:
        dst.recurrent.weight.copy_(rec if rec is not None else torch.zeros(src.size, src.size))
    dst.neuron.set_neuron_params(dv=p["dv"], vth=p["vth"], bias=p["bias"] + c / du, **({"du": du} if cuba else {}))
    moved = int(((c != 0) & (du != 1)).sum())
    rep: dict[str, Any] = {"size": src.size, "bias_moved": moved, "bias_exact": int(((c != 0) & (du == 1)).sum()),
                           "self_weight": {"min": float(self_w.min()), "max": float(self_w.max())}}
    if subtract is not None and stats is not None:
        fired = np.isfinite(stats["mean"])
        rep["spike_voltage"] = {"calibrated_neurons": int(fired.sum()),
                                "mean_std": float(np.nanmean(stats["std"])) if fired.any() else None}
    return rep


def _build(net: SpikingNetwork, stats, mode: str | None) -> tuple[SpikingNetwork, list[dict[str, Any]]]:
    kind = net.config.neuron
    student = build_network(net.config.replace(reset="zero", synapse_bias=False, neuron_bias=True,
                                               recurrent=net.config.recurrent or mode is not None))
    ref = next(net.parameters())
    student.to(ref.device, ref.dtype)
    layers = []
    for k, (src, dst) in enumerate(zip(net.layers, student.layers)):
        rep = _layer(src, dst, None if stats is None else stats[k], mode, kind == "cuba-lif")
        dv = dst.neuron.neuron_params()["dv"].double().numpy()
        layers.append({"name": f"hidden{k}", "kind": kind, **rep, "per_neuron": {"dv_unclustered": torch.as_tensor(dv)},
                       "decay": {"param": "dv", "profiles": sorted({float(d) for d in dv}),
                                 "sizes": [int((dv == d).sum()) for d in sorted(set(dv))],
                                 "error": {"max_abs": 0.0, "rms": 0.0, "max_tau_rel": 0.0}}})
    student.readout.load_state_dict(net.readout.state_dict())
    return student.eval(), layers


def _agreement(a: SpikingNetwork, b: SpikingNetwork, batches: list[torch.Tensor]) -> float:
    same = total = 0
    for x in batches:
        same += int((a(x).argmax(1) == b(x).argmax(1)).sum())
        total += x.shape[0]
    return same / max(total, 1)


@torch.no_grad()
def fold_lif(net: SpikingNetwork, calib_x: torch.Tensor | None = None, config: Any = None, *,
             progress: bool = False) -> tuple[SpikingNetwork, dict[str, Any]]:
    """Fold what Loihi lacks (module docstring) out of a LIF / CUBA-LIF network; ConfigError when
    there is nothing to fold. For the reset by subtraction, each remainder of :data:`REMAINDERS`
    is built and the one whose predictions agree most with the source's on the calibration
    frames is kept (without calibration frames: ``mean``, spikes assumed at threshold)."""
    kind = net.config.neuron
    why = needs_fold(net) if kind in KINDS else []
    if not why:
        raise ConfigError("model.neuron", f"this {kind} network needs no fold: Loihi's neuron runs it as it is",
                          remedy="export it directly (spikedeploy export-nir)")
    subtract = net.config.reset == "subtract"
    stats, agreement, mode = None, {}, ("mean" if subtract else None)
    was = net.training
    net.eval()
    if subtract and calib_x is not None:
        batches = list(calibration_batches(net, calib_x, getattr(config, "batch_size", 64), progress=progress,
                                           desc="voltage at spike"))
        stats = voltage_at_spike(net, batches)
        agreement = {m: _agreement(net, _build(net, stats, m)[0], batches) for m in REMAINDERS}
        mode = max(REMAINDERS, key=lambda m: agreement[m])            # ties: the first of REMAINDERS
    net.train(was)
    student, layers = _build(net, stats, mode)
    exact = not subtract and all(rep["bias_moved"] == 0 for rep in layers)
    notes = [f"{kind} fold of what Loihi's neuron lacks ({'; '.join(why)}): "
             + ("exact" if exact else "an approximation; the accuracy before and after measures it")]
    if subtract:
        said = ", ".join(f"{m} {a:.4f}" for m, a in agreement.items())
        notes.append(f"reset by subtraction -> reset to zero with the {mode!r} remainder on the recurrent diagonal"
                     + (f" (calibration agreement with the source: {said})" if agreement
                        else " (no calibration data: spikes assumed at threshold)"))
    if any(rep["bias_moved"] for rep in layers):
        notes.append("synapse bias through the current decay -> its steady state c / du on the voltage bias")
    return student, {"kind": kind, "exact": exact, "notes": notes, "layers": layers,
                     "remainder": {"chosen": mode, "agreement": agreement}}
