"""A source network's operations as conventional hardware runs it: multiplications apart from accumulates.

The deployed (folded) network runs on a chip as accumulates of binary spikes; the network
it was folded from runs on a GPU or CPU with its gates, graded outputs and elementwise
products, which are multiplications. This module counts, per inference (per sample), what
the source network asks of conventional hardware, from a run of it on real inputs (the
non-zero inputs each step are measured, not assumed):

- a synapse or recurrent weight read by **binary** inputs (spikes): one accumulate per
  non-zero input and target; by **graded** inputs (pr-v2's multi-bit outputs, a GPN's
  voltage): one multiplication and one accumulate per non-zero input and target;
- s2net's lateral term ``s_{t-1} D`` (``D = W W^T``, precomputed): accumulates;
- a GPN's gate matrix ``[v_{t-1}, x_t] -> 4C``: dense, 8 C^2 multiply-accumulates per step;
- per neuron and step, the elementwise products of its update (:data:`ELEMENTWISE`) and
  its nonlinear functions (sigmoid, tanh: :data:`NONLINEAR`);
- pr-v2's batch norm folded into its synapse (an affine map at inference: no extra product);
- the readout: its synapse as above, and an LI readout's decay, one product per class and step.

:func:`recurrent_baseline_ops` counts a GRU or LSTM of the same width analytically (dense:
every weight a multiply-accumulate each step, and the gate products), for Ponghiran & Roy's
claim that their network needs over 10x fewer multiplications than a GRU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from ..errors import ConfigError
from ..models.conv import ConvSpikingNetwork
from .backend_runs import float_batch
from .conv_ops import conv_synops

#: Elementwise products per neuron and step (the neuron update on conventional hardware).
ELEMENTWISE = {"lif": 1, "cuba-lif": 2, "s2net": 1, "gpn": 2, "pr-v2": 3}
#: Sigmoid / tanh evaluations per neuron and step.
NONLINEAR = {"lif": 0, "cuba-lif": 0, "s2net": 0, "gpn": 4, "pr-v2": 1}
#: Dense-RNN baselines: (gate blocks, elementwise products, nonlinear functions) per unit and step.
RNN_CELLS = {"gru": (3, 3, 3), "lstm": (4, 3, 5)}


@dataclass(frozen=True)
class SourceOps:
    """Operations per inference of a network on conventional hardware."""

    name: str
    multiplications: float
    accumulates: float           # additions (those of the multiply-accumulates included)
    nonlinear: float
    per_layer: Mapping[str, Mapping[str, float]]
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "multiplications": self.multiplications, "accumulates": self.accumulates,
                "nonlinear": self.nonlinear, "per_layer": {k: dict(v) for k, v in self.per_layer.items()},
                "assumptions": list(self.assumptions)}


def _binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


def _weight_reads(inputs: torch.Tensor, n_out: int) -> tuple[float, float]:
    """(multiplications, accumulates) per sample of ``n_out`` targets read by ``inputs`` [B, T, n]."""
    nnz = float((inputs != 0).sum()) / inputs.shape[0] * n_out
    return (0.0 if _binary(inputs) else nnz), nnz


def _layer_ops(layer: Any, inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, float]:
    kind, c, steps = layer.kind, layer.size, inputs.shape[1]
    if kind not in ELEMENTWISE:
        raise ConfigError("layer kind", f"no operation count for {kind!r} neurons", valid=tuple(ELEMENTWISE))
    mul, acc = _weight_reads(inputs, layer.synapse.out_features)
    previous = torch.cat([torch.zeros_like(outputs[:, :1]), outputs[:, :-1]], 1)
    if layer.recurrent is not None:
        m, a = _weight_reads(previous, layer.recurrent.out_features)
        mul, acc = mul + m, acc + a
    if getattr(layer.neuron, "lateral", False):
        acc += _weight_reads(previous, c)[1]
    if kind == "gpn":
        dense = 8 * c * c * steps
        mul, acc = mul + dense, acc + dense
    return {"multiplications": mul + ELEMENTWISE[kind] * c * steps, "accumulates": acc,
            "nonlinear": float(NONLINEAR[kind] * c * steps)}


def _conv_source_ops(model: ConvSpikingNetwork, x: torch.Tensor, name: str) -> SourceOps:
    """s2net's conv network: its convolutions by NeuroBench's rules (:mod:`.conv_ops`: a real-valued
    input multiplies, spikes accumulate), s2net's neuron update per position, the readout."""
    with torch.no_grad():
        ops = conv_synops(model, x.float())
    per_layer = {}
    for layer, counts in ops.items():
        update = ELEMENTWISE["s2net"] * counts["neuron_updates"]
        per_layer[layer] = {"multiplications": counts["effective_macs"] + update,
                            "accumulates": counts["effective_acs"] + counts["effective_macs"], "nonlinear": 0.0}
    if model.config.readout == "li":
        per_layer["readout"]["multiplications"] += model.config.n_classes * x.shape[1]
    lines = ["s2net conv layers counted by NeuroBench's rules on the run's own inputs (metrics.conv_ops): "
             "non-zero inputs times the kernel positions they reach; real-valued input multiplies",
             f"neuron updates (s2net): {ELEMENTWISE['s2net']} product per neuron, position and step"]
    return _total(name, per_layer, lines)


def count_source_ops(model: Any, x: torch.Tensor, *, name: str = "source") -> SourceOps:
    """Run ``model`` (a SpikingNetwork or s2net's ConvSpikingNetwork, evaluation mode) on ``x``
    [B, T, in] and count its operations on conventional hardware (module docstring)."""
    if isinstance(model, ConvSpikingNetwork):
        return _conv_source_ops(model.eval(), x, name)
    model = model.eval()
    with torch.no_grad():
        _, spikes, _, _ = float_batch(model, x.float())
    per_layer: dict[str, dict[str, float]] = {}
    h = x.float()
    lines = ["counted on the run's own inputs: non-zero inputs per step measured; binary inputs accumulate, "
             "graded ones multiply"]
    if getattr(model, "input_quant", None) is not None:
        lines.append("the input quantiser's graded input is counted on the binned frames' non-zeros")
    for k, (layer, out) in enumerate(zip(model.layers, spikes)):
        per_layer[f"hidden{k}"] = _layer_ops(layer, h, out)
        h = out
    m, a = _weight_reads(h, model.readout.synapse.out_features)
    decay = model.readout.synapse.out_features * x.shape[1] if getattr(model.readout, "kind", "") == "li" else 0
    per_layer["readout"] = {"multiplications": m + decay, "accumulates": a, "nonlinear": 0.0}
    kinds = sorted({layer.kind for layer in model.layers})
    lines.append(f"neuron updates ({', '.join(kinds)}): " + ", ".join(
        f"{ELEMENTWISE[k]} product(s) and {NONLINEAR[k]} sigmoid/tanh per neuron and step" for k in kinds))
    if "pr-v2" in kinds:
        lines.append("pr-v2's batch norm is folded into its synapse (an affine map at inference: no product)")
    return _total(name, per_layer, lines)


def _total(name: str, per_layer: Mapping[str, Mapping[str, float]], lines: list[str]) -> SourceOps:
    return SourceOps(name, sum(v["multiplications"] for v in per_layer.values()),
                     sum(v["accumulates"] for v in per_layer.values()),
                     sum(v["nonlinear"] for v in per_layer.values()), per_layer, tuple(lines))


def recurrent_baseline_ops(cell: str, n_in: int, hidden: int, n_classes: int, steps: int) -> SourceOps:
    """A one-layer GRU or LSTM of ``hidden`` units read out from its last state, counted dense:
    every weight one multiply-accumulate per step (its inputs are real-valued on a GPU), plus the
    gate products and nonlinear functions (:data:`RNN_CELLS`); biases not counted."""
    if cell not in RNN_CELLS:
        raise ConfigError("cell", f"unknown recurrent cell {cell!r}", valid=tuple(RNN_CELLS))
    gates, products, nonlinear = RNN_CELLS[cell]
    dense = gates * (n_in + hidden) * hidden * steps
    per_layer = {"hidden0": {"multiplications": float(dense + products * hidden * steps), "accumulates": float(dense),
                             "nonlinear": float(nonlinear * hidden * steps)},
                 "readout": {"multiplications": float(n_classes * hidden), "accumulates": float(n_classes * hidden),
                             "nonlinear": 0.0}}
    return _total(cell, per_layer, [f"{cell.upper()} {n_in} -> {hidden}, {steps} steps, dense: {gates} gate blocks of "
                                    f"(n_in + hidden) x hidden multiply-accumulates per step, {products} products "
                                    f"and {nonlinear} sigmoid/tanh per unit and step; readout from the last state"])
