"""Operation counts of a Loihi 2 network whose neurons are programs (gates computed): what one inference asks.

The counter of :mod:`.run_counts` reads one weight and one square recurrent weight per
layer; a Loihi 2 layer (:class:`~spikedeploy.quant.loihi2_network.Loihi2Network`) has
several row sets per neuron (pr-v2: forget and candidate; GPN: the current and four gates)
for each source (``layer.connections()``), so it is counted here, from the same kind of
traces (the input's spikes, every layer's outputs and each GPN layer's broadcast, aligned):

- synaptic events: every non-zero input (a spike, or a graded payload) times the synapses
  it reaches (non-zero weights in its column of every row set; the recurrent ones from the
  layer's own payloads - a pr-v2 layer's outputs, a GPN layer's state broadcast - of the
  step before; the readout's from the last layer's outputs). Those carried by binary
  spikes are accumulates (``acs``); those carried by graded payloads multiply the payload
  (``graded``). A GPN's state broadcast is non-zero almost every step: its gate rows are
  dense work, counted as it is;
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
from .devices import BYTES_FP32, Workload


def _events(source: torch.Tensor, weights: list[np.ndarray]) -> float:
    """Synaptic events of ``source`` [B, T, n_in] (non-zero entries) through the weights [*, n_in]."""
    fan = torch.as_tensor(sum((w != 0).sum(axis=0) for w in weights), dtype=torch.float64)
    return float(((source != 0).to(torch.float64) * fan).sum())


def _shift(trace: torch.Tensor) -> torch.Tensor:
    """The trace one step late (what a recurrent connection delivers), zero at step 0."""
    return torch.cat([torch.zeros_like(trace[:, :1]), trace[:, :-1]], dim=1)


def graded_counts(net: Loihi2Network, x: Any, payloads: Mapping[str, Any],
                  broadcast: Mapping[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """Per layer, per inference (means over the samples): ``acs``, ``graded`` (synaptic events),
    ``neuron_updates``, ``payloads`` (outputs sent: graded payloads or spikes), ``broadcast``
    (a GPN's state payloads sent), ``dense_macs``; ``x`` [B, T, in] (0/1), ``payloads[layer]``
    and a GPN layer's ``broadcast[layer]`` [B, T, n] aligned
    (:func:`~spikedeploy.quant.loihi2_emulator.emulate_loihi2`)."""
    x = torch.as_tensor(np.asarray(x))
    B, T = int(x.shape[0]), int(x.shape[1])
    out: dict[str, dict[str, float]] = {}
    source, graded_source = x, False
    for l in net.hidden:
        own = torch.as_tensor(np.asarray(payloads[l.name]))
        back = own if l.kind == "pr-v2" else torch.as_tensor(np.asarray((broadcast or {})[l.name]))
        ff = _events(source, [w for _, w, _, rec in l.connections() if not rec])
        rec = _events(_shift(back), [w for _, w, _, r in l.connections() if r])
        out[l.name] = {"acs": 0.0 if graded_source else ff / B, "graded": (rec + (ff if graded_source else 0.0)) / B,
                       "neuron_updates": float(l.n_out * T), "payloads": float((own != 0).sum()) / B,
                       "broadcast": 0.0 if back is own else float((back != 0).sum()) / B,
                       "dense_macs": float(sum(w.size for _, w, _, _ in l.connections()) * T)}
        source, graded_source = own, l.out_bits > 0
    r = net.readout
    events = _events(source, [r.weight]) / B
    out[r.name] = {"acs": 0.0 if graded_source else events, "graded": events if graded_source else 0.0,
                   "neuron_updates": float(r.n_out * T), "payloads": 0.0, "broadcast": 0.0,
                   "dense_macs": float(r.n_out * r.n_in * T)}
    return out


def graded_workload(net: Loihi2Network, counts: Mapping[str, Mapping[str, float]], steps: int) -> Workload:
    """The per-step workload of one inference (:class:`~.devices.Workload`) from :func:`graded_counts`."""
    total = lambda key: sum(c[key] for c in counts.values()) / steps  # noqa: E731
    weights = sum(w.size for l in net.hidden for _, w, _, _ in l.connections()) + net.readout.weight.size
    state = sum(l.n_in + 3 * l.n_out for l in net.layers)
    return Workload(steps=steps, macs=total("dense_macs"), synops=total("acs") + total("graded"),
                    neuron_updates=total("neuron_updates"), active_updates=total("neuron_updates"),
                    spikes=total("payloads") + total("broadcast"), layers=len(net.layers),
                    weight_bytes=weights * BYTES_FP32,
                    state_bytes=state * BYTES_FP32)
