"""Losses, per sample (so that sums split exactly across processes).

- :func:`cross_entropy_per_sample`: the classification loss of each sample.
- :func:`spike_count_penalty`: the activity regulariser of each sample, the sum over
  hidden layers of the mean number of spikes per neuron per step (the mean of ``|s|``,
  which for the graded outputs of ``pr-v2`` is the mean output magnitude). On Loihi the
  energy follows the spikes (each one costs its fan-out in synaptic operations), so
  a weight on this term trades accuracy for energy.
- :func:`sample_losses`: cross entropy + ``activity_reg`` x penalty.
- :func:`gate_variance_penalty`: the fold-aware penalty of a GPN network (a batch statistic,
  added once per batch: ``[training] gate_variance_reg``).

The training loop sums these and divides by the *global* batch size, which gives
the mean over the batch in one process and the same gradient when the batch is
split over several (DistributedDataParallel averages the processes' gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy_per_sample(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross entropy of each sample, [batch]."""
    return F.cross_entropy(logits, targets, reduction="none")


def spike_count_penalty(spikes: list[torch.Tensor]) -> torch.Tensor:
    """Per sample: sum over layers of mean spikes per neuron per step (spikes [batch, time, n], or
    [batch, time, channels, bands] for a convolutional layer)."""
    if not spikes:
        raise ValueError("no spiking layers to regularise")
    return sum(s.abs().flatten(1).mean(1) for s in spikes)  # |s|: graded, signed outputs (pr-v2) count too


def sample_losses(logits: torch.Tensor, targets: torch.Tensor, spikes: list[torch.Tensor],
                  activity_reg: float = 0.0) -> torch.Tensor:
    """Cross entropy plus the weighted spike-count penalty, per sample [batch]."""
    loss = cross_entropy_per_sample(logits, targets)
    if activity_reg > 0:
        loss = loss + activity_reg * spike_count_penalty(spikes)
    return loss


def track_gates(model: torch.nn.Module, on: bool) -> None:
    """Switch the gate recording of every GPN layer of ``model`` on or off."""
    for m in model.modules():
        if hasattr(m, "track_gates"):
            m.track_gates = on
            m.last_gate_variance = None


def gate_variance_penalty(model: torch.nn.Module) -> torch.Tensor | None:
    """The sum over GPN layers of the gate variance their last forward pass recorded (None when
    no layer tracks its gates: ``GPN.track_gates``)."""
    values = [m.last_gate_variance for m in model.modules() if getattr(m, "last_gate_variance", None) is not None]
    return sum(values) if values else None
