"""Synaptic operations, counted the way NeuroBench counts them.

For each connection (a weight matrix applied to a layer's input at one step):

- binarise the inputs (``x != 0``) and the weights (``w != 0``) and count the
  products: for a Linear layer ``((x != 0) @ (w != 0).T).sum()``;
- when every input value of that call lies in {-1, 0, 1}, the products are
  accumulates (**effective ACs**), otherwise multiply-accumulates (**effective
  MACs**);
- **dense** operations are every possible product: ``in * out`` per step, zero
  weights and zero inputs included;
- the bias is not counted; counts are summed over time steps and averaged over
  samples;
- a recurrent matrix inside a neuron layer counts as its own connection; its
  input at step t is the layer's own output at step t - 1 (zero at t = 0), and its
  dense count is ``out * out`` on every step, t = 0 included (the matrix is read
  every step, as NeuroBench counts a recurrent Linear called on the zero state).

Which inputs decide AC versus MAC (``decide_per``):

- ``"sample_step"`` (default): each sample's step on its own. A sample's count
  then does not depend on the other samples of its batch.
- ``"batch_step"``: the whole batch's step together, which is exactly what
  NeuroBench does for a model stepped through time over a batch (one connection
  call per step). The two differ only when, in the same step, some samples feed
  graded values and others only {-1, 0, 1}.

Every count is an integer (a Python ``int`` total and a tuple of per-sample
ints); the per-sample means are those totals divided by the number of samples.

The GPN (:meth:`SynapticOperations.update_gpn`, :func:`gpn_layer_ops`) is counted
before its gates are folded: its input Linear reads spikes (ACs), and its gate
Linear(2C -> 4C) reads ``[v_{t-1}, x_t]``, real values, every step (MACs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

import torch

from ..errors import ConfigError, ShapeMismatchError
from ._arrays import (as_matrix, as_sequence, events_per_neuron, exact_matvec, nonzero,
                      shift_one_step, unit_valued)

DecidePer = Literal["sample_step", "batch_step"]
DECIDE_PER: tuple[str, ...] = ("sample_step", "batch_step")

#: Suffix of the entry that holds a GPN layer's gate Linear.
GATES_SUFFIX = ".gates"


@dataclass(frozen=True)
class LayerSynOps:
    """One connection's operations over all the samples it saw.

    ``*_total`` are exact integer sums over samples and steps; ``per_sample_*`` hold
    one integer per sample (in the order the samples were given); ``effective_acs``,
    ``effective_macs`` and ``dense_ops`` are the means per sample (NeuroBench's
    ``Effective_ACs``, ``Effective_MACs`` and ``Dense``).
    """

    name: str
    n_in: int
    n_out: int
    n_samples: int
    acs_total: int
    macs_total: int
    dense_total: int
    per_sample_acs: tuple[int, ...]
    per_sample_macs: tuple[int, ...]
    per_sample_dense: tuple[int, ...]

    @property
    def effective_acs(self) -> float:
        return self.acs_total / self.n_samples

    @property
    def effective_macs(self) -> float:
        return self.macs_total / self.n_samples

    @property
    def dense_ops(self) -> float:
        return self.dense_total / self.n_samples

    @property
    def effective_ops(self) -> float:
        """ACs + MACs per sample."""
        return (self.acs_total + self.macs_total) / self.n_samples

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n_in": self.n_in, "n_out": self.n_out,
                "n_samples": self.n_samples, "effective_acs": self.effective_acs,
                "effective_macs": self.effective_macs, "dense_ops": self.dense_ops,
                "acs_total": self.acs_total, "macs_total": self.macs_total,
                "dense_total": self.dense_total}


@dataclass(frozen=True)
class SynOpsResult:
    """Per-connection operations and their sums (per-sample means, summed over layers)."""

    per_layer: Mapping[str, LayerSynOps]
    decide_per: str = "sample_step"

    @property
    def n_samples(self) -> int:
        """Samples counted (0 when the connections saw different numbers of samples)."""
        counts = {l.n_samples for l in self.per_layer.values()}
        return counts.pop() if len(counts) == 1 else 0

    @property
    def effective_acs(self) -> float:
        return sum(l.effective_acs for l in self.per_layer.values())

    @property
    def effective_macs(self) -> float:
        return sum(l.effective_macs for l in self.per_layer.values())

    @property
    def dense_ops(self) -> float:
        return sum(l.dense_ops for l in self.per_layer.values())

    @property
    def effective_ops(self) -> float:
        return self.effective_acs + self.effective_macs

    def to_dict(self) -> dict[str, Any]:
        """NeuroBench's three numbers plus the per-layer table."""
        return {"Effective_ACs": self.effective_acs, "Effective_MACs": self.effective_macs,
                "Dense": self.dense_ops, "decide_per": self.decide_per,
                "per_layer": {k: v.to_dict() for k, v in self.per_layer.items()}}


class _Accumulator:
    """Running per-sample counts of one connection entry."""

    def __init__(self, n_in: int, n_out: int):
        self.n_in = n_in
        self.n_out = n_out
        self.acs: list[int] = []
        self.macs: list[int] = []
        self.dense: list[int] = []


def _step_ops(inputs_nz: torch.Tensor, weight_nz: torch.Tensor) -> torch.Tensor:
    """Int64 [B, T]: effective products per sample and step (``sum_i nz(x_i) * nnz(W[:, i])``)."""
    fan_out = weight_nz.sum(dim=0, dtype=torch.int64)  # [in]: non-zero weights leaving input i
    return exact_matvec(inputs_nz, fan_out)


class SynapticOperations:
    """Effective ACs, effective MACs and dense operations per connection.

    Life cycle: ``reset()``; ``update(...)`` once per layer and batch (calls with
    the same layer name accumulate samples); ``compute() -> SynOpsResult``::

        ops = SynapticOperations()
        ops.update("hidden", x, w_hidden, rec_inputs=s_hidden, rec_weight=w_rec)
        ops.update("readout", s_hidden, w_out)
        result = ops.compute()          # result.per_layer["hidden"].effective_acs ...
    """

    def __init__(self, decide_per: DecidePer = "sample_step"):
        if decide_per not in DECIDE_PER:
            raise ConfigError("decide_per", f"unknown rule {decide_per!r}", valid=DECIDE_PER)
        self.decide_per = decide_per
        self._entries: dict[str, _Accumulator] = {}

    def reset(self) -> "SynapticOperations":
        self._entries = {}
        return self

    # -- the counting core -------------------------------------------------------------
    def _split(self, step_ops: torch.Tensor, values: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Split [B, T] products into (ACs, MACs) by the {-1, 0, 1} rule on ``values``.

        ``values=None`` means real-valued inputs whose values were not recorded: MACs.
        """
        if values is None:
            return torch.zeros_like(step_ops), step_ops
        zero = torch.zeros((), dtype=torch.int64)
        unit = unit_valued(values)
        if self.decide_per == "batch_step":
            unit = unit.all(dim=0, keepdim=True).expand_as(unit)
        return torch.where(unit, step_ops, zero), torch.where(unit, zero, step_ops)

    def _accumulate(self, name: str, n_in: int, n_out: int, acs: torch.Tensor,
                    macs: torch.Tensor, dense_per_step: int) -> None:
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = _Accumulator(n_in, n_out)
        elif (entry.n_in, entry.n_out) != (n_in, n_out):
            raise ShapeMismatchError(f"connection {name!r} weight [out, in]",
                                     (entry.n_out, entry.n_in), (n_out, n_in),
                                     remedy="use one name per connection")
        b, t = (int(s) for s in acs.shape)
        entry.acs.extend(acs.sum(dim=1).tolist())
        entry.macs.extend(macs.sum(dim=1).tolist())
        entry.dense.extend([dense_per_step * t] * b)

    def _connection(self, name: str, values: torch.Tensor, weight_nz: torch.Tensor) -> None:
        n_out, n_in = (int(s) for s in weight_nz.shape)
        acs, macs = self._split(_step_ops(nonzero(values), weight_nz), values)
        self._accumulate(name, n_in, n_out, acs, macs, n_in * n_out)

    # -- public updates ------------------------------------------------------------------
    def update(self, layer: str, inputs: Any, weight: Any, rec_inputs: Any = None,
               rec_weight: Any = None) -> "SynapticOperations":
        """Count one layer's connections for a batch.

        ``inputs`` [B, T, in] is what the weight [out, in] reads at each step.
        ``rec_inputs`` [B, T, out] is the layer's own output sequence (its spikes);
        the recurrent weight [out, out] reads it delayed by one step. Feed-forward and
        recurrent products of a layer are summed in the layer's entry (each decided
        AC or MAC by its own inputs, as NeuroBench treats them as two calls).
        """
        w = as_matrix(weight, f"layer {layer!r} weight")
        x = as_sequence(inputs, f"layer {layer!r} inputs", features=int(w.shape[1]))
        n_out, n_in = (int(s) for s in w.shape)
        if (rec_inputs is None) != (rec_weight is None):
            raise ConfigError(f"layer {layer!r}", "rec_inputs and rec_weight go together",
                              remedy="pass both (the layer's own spikes and its recurrent "
                                     "weight) or neither")
        acs, macs = self._split(_step_ops(nonzero(x), nonzero(w)), x)
        dense = n_in * n_out
        if rec_weight is not None:
            r = as_matrix(rec_weight, f"layer {layer!r} rec_weight")
            if tuple(r.shape) != (n_out, n_out):
                raise ShapeMismatchError(f"layer {layer!r} rec_weight", (n_out, n_out),
                                         tuple(r.shape))
            s = as_sequence(rec_inputs, f"layer {layer!r} rec_inputs", features=n_out)
            if s.shape[:2] != x.shape[:2]:
                raise ShapeMismatchError(f"layer {layer!r} rec_inputs [B, T]",
                                         tuple(x.shape[:2]), tuple(s.shape[:2]))
            s_prev = shift_one_step(s)
            rec_acs, rec_macs = self._split(_step_ops(nonzero(s_prev), nonzero(r)), s_prev)
            acs, macs = acs + rec_acs, macs + rec_macs
            dense += n_out * n_out
        self._accumulate(layer, n_in, n_out, acs, macs, dense)
        return self

    def update_gpn(self, layer: str, inputs: Any, input_weight: Any,
                   gate_weight: Any | Sequence[int], *, gate_inputs: Any = None) -> "SynapticOperations":
        """Count a GPN layer before folding: two entries, ``layer`` and ``layer + ".gates"``.

        ``inputs`` [B, T, in] feed the input Linear ``input_weight`` [C, in] (ACs when
        they are spikes). The gate Linear, ``gate_weight`` [4C, 2C] (a tensor, or just
        its shape when every gate weight is taken as non-zero), reads
        ``[v_{t-1}, x_t]`` every step. With ``gate_inputs`` [B, T, 2C] (the recorded
        ``[v_{t-1}, x_t]``) the rule is applied to the real values. Without it, every
        ``v`` entry is taken as non-zero (a real-valued state) and ``x_t[j]`` as
        non-zero exactly when at least one input event reaches neuron j through a
        non-zero weight (exact cancellation to 0.0 is not detected), and the products
        are MACs.
        """
        w_in = as_matrix(input_weight, f"GPN layer {layer!r} input weight")
        c = int(w_in.shape[0])
        x = as_sequence(inputs, f"GPN layer {layer!r} inputs", features=int(w_in.shape[1]))
        self._connection(layer, x, nonzero(w_in))
        if isinstance(gate_weight, (tuple, list, torch.Size)):
            shape = tuple(int(s) for s in gate_weight)
            gate_nz = None
        else:
            g = as_matrix(gate_weight, f"GPN layer {layer!r} gate weight")
            shape = tuple(int(s) for s in g.shape)
            gate_nz = nonzero(g)
        if shape != (4 * c, 2 * c):
            raise ShapeMismatchError(f"GPN layer {layer!r} gate weight", (4 * c, 2 * c), shape,
                                     remedy="the gate Linear maps [v_{t-1}, x_t] (2C) to 4C "
                                            "pre-activations, C = the input weight's rows")
        if gate_nz is None:
            gate_nz = torch.ones(shape, dtype=torch.bool)
        name = layer + GATES_SUFFIX
        if gate_inputs is not None:
            gi = as_sequence(gate_inputs, f"GPN layer {layer!r} gate inputs", features=2 * c)
            if gi.shape[:2] != x.shape[:2]:
                raise ShapeMismatchError(f"GPN layer {layer!r} gate inputs [B, T]",
                                         tuple(x.shape[:2]), tuple(gi.shape[:2]))
            self._connection(name, gi, gate_nz)
            return self
        x_nz = events_per_neuron(nonzero(x), nonzero(w_in)) > 0
        v_nz = torch.ones(x_nz.shape, dtype=torch.bool)
        acs, macs = self._split(_step_ops(torch.cat([v_nz, x_nz], dim=-1), gate_nz), None)
        self._accumulate(name, 2 * c, 4 * c, acs, macs, 8 * c * c)
        return self

    def compute(self) -> SynOpsResult:
        per_layer = {}
        for name, e in self._entries.items():
            per_layer[name] = LayerSynOps(
                name=name, n_in=e.n_in, n_out=e.n_out, n_samples=len(e.acs),
                acs_total=sum(e.acs), macs_total=sum(e.macs), dense_total=sum(e.dense),
                per_sample_acs=tuple(e.acs), per_sample_macs=tuple(e.macs),
                per_sample_dense=tuple(e.dense))
        return SynOpsResult(per_layer=per_layer, decide_per=self.decide_per)


def gpn_layer_ops(inputs: Any, input_weight: Any, gate_weight: Any | Sequence[int], *,
                  gate_inputs: Any = None, name: str = "gpn",
                  decide_per: DecidePer = "sample_step") -> SynOpsResult:
    """A GPN layer's own cost before folding (see :meth:`SynapticOperations.update_gpn`).

    Returns a :class:`SynOpsResult` with the entries ``name`` (input Linear) and
    ``name + ".gates"`` (gate Linear).
    """
    return SynapticOperations(decide_per).update_gpn(
        name, inputs, input_weight, gate_weight, gate_inputs=gate_inputs).compute()
