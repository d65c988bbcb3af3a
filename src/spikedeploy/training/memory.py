"""A lower bound of the memory a training run holds, so that an impossible size is refused
up front with the estimate (:func:`spikedeploy.memory.require`) instead of failing inside torch."""

from __future__ import annotations

from typing import Any

from ..models.networks import NetworkConfig

#: Bytes per float32.
F32 = 4
#: Tensors autograd keeps per neuron and step for backpropagation through time, at least
#: (the input current, the voltage and the spike of every step).
SAVED_PER_NEURON_STEP = 3
#: Copies of every weight an Adam step holds: the weight, its gradient, two moments.
ADAM_COPIES = 4


def training_memory(network: NetworkConfig, n_steps: int, batch_size: int, n_samples: int) -> dict[str, int]:
    """``{what: bytes}``, a lower bound: the binned frames of ``n_samples`` (one byte per entry),
    the frame edges, the synaptic weights (and a GPN's gates) with Adam's copies, and the
    activations of one batch kept for backpropagation through time."""
    sizes = [int(network.input_size), *(int(h) for h in network.hidden)]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + sizes[-1] * int(network.n_classes)
    if network.neuron == "gpn":
        weights += sum(8 * h * h for h in sizes[1:])           # the gates: 2C -> 4C per layer
    return {"binned frames": n_samples * n_steps * sizes[0],
            "frame edges": (n_steps + 1) * 8,
            "weights (with gradients and Adam's moments)": weights * F32 * ADAM_COPIES,
            "activations of one batch": batch_size * n_steps * sum(sizes[1:]) * F32 * SAVED_PER_NEURON_STEP}


def describe(run: Any) -> str:
    """What to change, for the refusal's remedy."""
    return ("use fewer time steps (--time-steps), smaller hidden layers (--hidden), a smaller batch "
            f"(--batch-size; now {run.training.batch_size}), or pooled input channels")
