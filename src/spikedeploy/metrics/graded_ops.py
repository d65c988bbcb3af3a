"""Operation counts of a Loihi 2 pr-v2 network (graded payloads, gates computed): what one inference asks.

The counter of :mod:`.run_counts` reads one weight and one square recurrent weight per
layer; a Loihi 2 pr-v2 layer (:class:`~spikedeploy.quant.pr_graded.PrGradedLayer`) has two
rows per neuron (forget and candidate) for each source, so it is counted here, from the
same kind of traces (the input's spikes and every layer's payloads, aligned):

- synaptic events: every non-zero input (a spike, or a graded payload) times the synapses
  it reaches (non-zero weights in its column of both row sets; the recurrent ones from the
  layer's own payloads of the step before; the readout's from the last layer's payloads).
  Those carried by binary spikes are accumulates (``acs``); those carried by graded
  payloads multiply the payload (``graded``);
- neuron updates: every neuron every step, all active (the gate, the products and the
  quantiser run whether or not anything arrived: the neuron is not event-driven);
- payloads sent: the non-zero outputs;
- dense MACs: every weight once per step (what a dense matrix product would do).

:func:`graded_workload` gives the per-step :class:`~.devices.Workload` the device models
take, so the energy of this path is computed by the same code as every other
(:func:`.devices.operation_joules`, :func:`.devices.neuromorphic`).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from ..quant.loihi2_network import Loihi2Network
from ..quant.pr_graded import MATRICES
from .devices import BYTES_FP32, Workload


def _events(source: torch.Tensor, weights: list[np.ndarray]) -> float:
    """Synaptic events of ``source`` [B, T, n_in] (non-zero entries) through the weights [*, n_in]."""
    fan = torch.as_tensor(sum((w != 0).sum(axis=0) for w in weights), dtype=torch.float64)
    return float(((source != 0).to(torch.float64) * fan).sum())


def _shift(trace: torch.Tensor) -> torch.Tensor:
    """The trace one step late (what a recurrent connection delivers), zero at step 0."""
    return torch.cat([torch.zeros_like(trace[:, :1]), trace[:, :-1]], dim=1)


def graded_counts(net: Loihi2Network, x: Any, payloads: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Per layer, per inference (means over the samples): ``acs``, ``graded`` (synaptic events),
    ``neuron_updates``, ``payloads`` (sent), ``dense_macs``; ``x`` [B, T, in] (0/1) and
    ``payloads[layer]`` [B, T, n] aligned (:func:`~spikedeploy.quant.loihi2_emulator.emulate_loihi2`)."""
    x = torch.as_tensor(np.asarray(x))
    B, T = int(x.shape[0]), int(x.shape[1])
    out: dict[str, dict[str, float]] = {}
    source, graded_source = x, False
    for l in net.hidden:
        own = torch.as_tensor(np.asarray(payloads[l.name]))
        ff = _events(source, [getattr(l, k) for k, _, _, rec in MATRICES if not rec])
        rec = _events(_shift(own), [getattr(l, k) for k, _, _, r in MATRICES if r])
        out[l.name] = {"acs": 0.0 if graded_source else ff / B, "graded": (rec + (ff if graded_source else 0.0)) / B,
                       "neuron_updates": float(l.n_out * T), "payloads": float((own != 0).sum()) / B,
                       "dense_macs": float(2 * l.n_out * (l.n_in + l.n_out) * T)}
        source, graded_source = own, True
    r = net.readout
    out[r.name] = {"acs": 0.0, "graded": _events(source, [r.weight]) / B, "neuron_updates": float(r.n_out * T),
                   "payloads": 0.0, "dense_macs": float(r.n_out * r.n_in * T)}
    return out


def graded_workload(net: Loihi2Network, counts: Mapping[str, Mapping[str, float]], steps: int) -> Workload:
    """The per-step workload of one inference (:class:`~.devices.Workload`) from :func:`graded_counts`."""
    total = lambda key: sum(c[key] for c in counts.values()) / steps  # noqa: E731
    weights = sum(2 * l.n_out * (l.n_in + l.n_out) for l in net.hidden) + net.readout.n_out * net.readout.n_in
    state = sum(l.n_in + 3 * l.n_out for l in net.layers)
    return Workload(steps=steps, macs=total("dense_macs"), synops=total("acs") + total("graded"),
                    neuron_updates=total("neuron_updates"), active_updates=total("neuron_updates"),
                    spikes=total("payloads"), layers=len(net.layers), weight_bytes=weights * BYTES_FP32,
                    state_bytes=state * BYTES_FP32)
