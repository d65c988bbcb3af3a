"""Planning a Lava stream and reading it back: how many copies, which gap, how many LIF
processes per layer, which samples received spikes across a reset, and the values the
predictions are read from. Imports without Lava.

The stream rule (``docs/fixed-point.md``): the only things a sample can pass to the next in a
Lava stream are the recurrent Dense's last spikes and what a delayed tap still holds. After a run :func:`carried_samples` counts
them from Lava's own recordings; with none, every sample's window equals an independent run
(``emulate``), otherwise the exact reference is ``emulate_stream`` (Lava's timing).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from ..errors import ConfigError
from ..models.spec_network import SpecNetwork
from .adapters import LavaNetwork, per_neuron_problem

#: Replicas used when none are asked for: one copy per sample (nothing then follows a sample
#: in its copy, so no recurrent spike crosses a reset and every window is an independent run),
#: as long as the copies hold at most this many synapses in all (Lava's memory grows with
#: B x synapses: about 2.8 GB for 600 copies of the 700-128r-20 network); else as many copies
#: as fit, each playing several samples. Measured in docs/benchmarks.md ("Lava bit-exactness").
DEFAULT_SYNAPSE_BUDGET = 70_000_000
#: ``decays="auto"`` builds one LIF process per decay group while every layer has at most this
#: many groups (the fold's default K = 8 profiles), else one process per layer with per-neuron
#: decays (simulation only): a trained model has one group per neuron, and groups cost
#: (groups of the source) x (groups) connections.
AUTO_MAX_DECAY_GROUPS = 8
DECAY_CHOICES = ("auto", "groups", "per-neuron")


def choose_decays(net: LavaNetwork, decays: str) -> tuple[str, list[str]]:
    """``(mode, notes)``: "groups" or "per-neuron" LIF processes for ``decays`` (one of
    :data:`DECAY_CHOICES`). ``auto``: groups while every layer has at most
    :data:`AUTO_MAX_DECAY_GROUPS`, else per-neuron (simulation only, with a note), and groups
    again, with a note, where per-neuron processes could not reproduce the emulator."""
    if decays not in DECAY_CHOICES:
        raise ConfigError("decays", f"unknown mode {decays!r}", valid=DECAY_CHOICES)
    if decays != "auto":
        return decays, []
    groups = {l.name: len(l.decay_groups()) for l in net.layers}
    if max(groups.values()) <= AUTO_MAX_DECAY_GROUPS:
        return "groups", []
    problem = per_neuron_problem(net)
    if problem is not None:
        return "groups", [f"one Lava process per decay group although a layer has more than "
                          f"{AUTO_MAX_DECAY_GROUPS} (slower to build): {problem}"]
    many = ", ".join(f"{k}: {v}" for k, v in groups.items() if v > AUTO_MAX_DECAY_GROUPS)
    return "per-neuron", [f"decay groups ({many}) exceed {AUTO_MAX_DECAY_GROUPS}: each layer runs as ONE Lava process "
                          "with per-neuron du/dv/vth (bit-exact in Lava's simulation, not a Loihi graph: Loihi "
                          "holds a few neuron profiles per core; cluster the decays to deploy)"]


def carried_samples(result: Any) -> np.ndarray:
    """bool [N]: samples whose window received spikes across its reset, read from Lava's own
    recordings and the stream: a recurrent layer at depth k spiking on the step before its
    reset (``i R + k - 1``), or the source of a delayed layer (``spikedeploy.delays``) spiking
    in the last ``max(delays)`` steps before the delayed layer's reset. All False: every
    window equals an independent run."""
    lay = result.layout
    R = lay.reset_interval
    carried = np.zeros((result.replicas, lay.n_samples), dtype=bool)
    starts = np.arange(lay.n_samples) * R
    for depth, layer in enumerate(result.lava.layers, start=1):
        if layer.recurrent:
            carried |= result.spikes[layer.name][:, starts + depth - 1, :].any(axis=2)
        if max(layer.delays) > 0:
            source = result.stream if depth == 1 else result.spikes[result.lava.layers[depth - 2].name]
            for back in range(1, min(max(layer.delays), R) + 1):   # source step s, arriving at s + 1 + d
                steps = starts + depth - 1 - back
                ok = steps >= 0
                carried[:, ok] |= source[:, steps[ok], :].any(axis=2)
    return carried.reshape(-1)[:result.n_samples]


def default_replicas(net: Any, n_samples: int, budget: int = DEFAULT_SYNAPSE_BUDGET) -> int:
    """``min(N, budget // synapses per copy)`` (at least 1); see :data:`DEFAULT_SYNAPSE_BUDGET`."""
    per_copy = 0
    for layer in net.layers:
        per_copy += int(np.count_nonzero(layer.weight))
        if layer.rec_weight is not None:
            per_copy += int(np.count_nonzero(layer.rec_weight))
    return max(1, min(int(n_samples), budget // max(per_copy, 1)))


def float_quiet_gap(spec: Any, samples: np.ndarray, max_gap: int, batch_size: int = 64) -> int | None:
    """The smallest gap after which every recurrent layer of the float network is silent on
    the last step of each sample's window, and every delayed layer's source on its last
    ``max(delays)`` steps (``quiet_gap``'s rule, in float64); None if none."""
    watch = [(i + 1, 1) for i, l in enumerate(spec.layers) if l.recurrent]     # (trace: 0 input, i + 1 layer i)
    watch += [(i, max(l.delays)) for i, l in enumerate(spec.layers) if l.delayed]
    if not watch:
        return 0
    N, T, F = samples.shape
    model = SpecNetwork(spec, dtype=torch.float64)
    active = {k: np.zeros(T + max_gap, dtype=np.int64) for k, _ in watch}
    with torch.no_grad():
        for b0 in range(0, N, batch_size):
            xb = torch.zeros((min(batch_size, N - b0), T + max_gap, F), dtype=torch.float64)
            xb[:, :T] = torch.as_tensor(samples[b0:b0 + batch_size], dtype=torch.float64)
            traces = (xb,) + model.run(xb).outputs
            for k in active:
                active[k] += (traces[k] != 0).sum(dim=(0, 2)).to(torch.int64).numpy()
    for gap in range(max_gap + 1):
        end = T + gap
        if all(active[k][max(end - span, 0):end].sum() == 0 for k, span in watch):
            return gap
    return None


def readout_values(voltage: np.ndarray | None, spikes: np.ndarray | None, mode: str, spiking: bool,
                   fixed: bool) -> np.ndarray:
    """[N, n_out] values whose argmax is the prediction: spike counts of a spiking last layer;
    otherwise the readout voltage reduced per ``mode`` ("last", "mean", "max"). For
    ``fixed`` runs "mean" keeps the integer sum (the final voltage), whose argmax is the same."""
    if spiking:
        counts = spikes.astype(np.int64).sum(axis=1)
        return counts if fixed else counts.astype(np.float64)
    if mode == "max":
        return voltage.max(axis=1)
    if mode == "mean" and not fixed:
        return voltage[:, -1] / voltage.shape[1]
    if mode in ("last", "mean"):
        return voltage[:, -1]
    raise ConfigError("readout", f"unknown readout {mode!r}", valid=("last", "mean", "max"))


def float_reference(spec: Any, x: np.ndarray, spikes: Mapping[str, np.ndarray], readout: np.ndarray,
                    predictions: np.ndarray, batch_size: int = 64) -> dict[str, Any]:
    """The float PyTorch model (SpecNetwork, float64) on the same input, against a floating_pt run."""
    model = SpecNetwork(spec, dtype=torch.float64)
    agree = {name: 0 for name in spikes}
    logits = []
    with torch.no_grad():
        for b0 in range(0, x.shape[0], batch_size):
            run = model.run(torch.as_tensor(x[b0:b0 + batch_size], dtype=torch.float64))
            for i, layer in enumerate(spec.layers):
                if layer.name in agree:
                    ref = run.outputs[i].numpy() > 0.5
                    agree[layer.name] += int((ref == spikes[layer.name][b0:b0 + batch_size]).sum())
            last = spec.layers[-1]
            logits.append(run.outputs[-1].sum(dim=1).numpy() if last.spiking else run.logits.numpy())
    ref_logits = np.concatenate(logits)
    return {"prediction_agreement": float(np.mean(ref_logits.argmax(axis=1) == predictions)),
            "spike_agreement": {k: v / max(spikes[k].size, 1) for k, v in agree.items()},
            "readout_max_abs_diff": float(np.abs(ref_logits - readout).max()) if readout.size else 0.0}
