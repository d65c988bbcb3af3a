"""Energy per inference from operation counts: counts x energy per operation.

An :class:`OperationEnergy` holds the energy of each counted operation for one
target, in picojoules, with its sources (Loihi 1: Davies et al., IEEE Micro 2018,
Table 2; Loihi 2: no published per-operation table, so always an *estimate*;
a conventional 45 nm processor: Horowitz, ISSCC 2014). It is built from a chip
profile (``spikedeploy.hardware.load_chip(name)``) by :func:`operation_energy`,
or directly.

Per inference (one sample) and per layer::

    synaptic = effective ACs x ac_pj + effective MACs x mac_pj
    neurons  = active updates x neuron_active_pj + inactive updates x neuron_inactive_pj
    spikes   = spikes emitted x spike_pj

A neuromorphic chip counts events: ACs are its synaptic spike operations. It has
no multiply-accumulate of real values, so graded-input MACs, when the target has
no MAC cost, are charged at the synaptic-op cost (Loihi 2's graded spikes) and
the assumption lines say how many. A conventional processor (GPU side) has no
neuron-update or spike cost in the field's usual comparison (MACs x 4.6 pJ +
ACs x 0.9 pJ); with ``basis="dense"`` every possible operation is charged as a
MAC (what a dense matrix product on a GPU actually performs).

Every estimate returns its assumptions as text lines for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from ..errors import ConfigError
from ..hardware import load_chip
from .records import RunCounts
from .synops import GATES_SUFFIX

Basis = Literal["effective", "dense"]
PJ = 1e-12


@dataclass(frozen=True)
class OperationEnergy:
    """Energy per operation of one target, picojoules (None: not charged / not applicable)."""

    name: str
    ac_pj: float                          # one accumulate (a synaptic spike op on a chip)
    mac_pj: float | None = None           # one multiply-accumulate (None: charged as an AC)
    neuron_active_pj: float | None = None
    neuron_inactive_pj: float | None = None  # None: inactive updates charged as active
    spike_pj: float | None = None         # one spike sent (within a tile on Loihi)
    estimate: bool = False                # True: not a published/measured figure
    neuromorphic: bool = True
    sources: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for k in ("ac_pj", "mac_pj", "neuron_active_pj", "neuron_inactive_pj", "spike_pj"):
            v = getattr(self, k)
            if v is not None and not (float(v) >= 0):
                raise ConfigError(f"energy {self.name!r} {k}", f"must be >= 0 picojoules, got {v}")
        if self.neuron_inactive_pj is not None and self.neuron_active_pj is None:
            raise ConfigError(f"energy {self.name!r} neuron_inactive_pj",
                              "given without neuron_active_pj")
        object.__setattr__(self, "sources", tuple(self.sources))


#: ``[energy]`` keys read from a chip profile (hardware/<chip>.toml), by target kind.
NEUROMORPHIC_KEYS = {"ac_pj": "synaptic_op", "neuron_active_pj": "neuron_update_active",
                     "neuron_inactive_pj": "neuron_update_inactive", "spike_pj": "spike_within_tile"}
CONVENTIONAL_KEYS = {"ac_pj": "ac", "mac_pj": "mac"}


def operation_energy(profile: Any) -> OperationEnergy:
    """The energy per operation of a chip profile (a ``ChipProfile`` or a chip name).

    A neuromorphic profile gives ``synaptic_op`` (charged per effective AC, and per
    MAC: it has no MAC cost), ``neuron_update_active`` / ``_inactive`` and
    ``spike_within_tile``; a conventional one gives ``mac`` and ``ac``. The result is
    an estimate when any figure used is labelled ``estimate`` in the profile; each
    figure's status and source become a ``sources`` line.
    """
    if isinstance(profile, str):
        profile = load_chip(profile)
    neuromorphic = profile.kind == "neuromorphic"
    keys = NEUROMORPHIC_KEYS if neuromorphic else CONVENTIONAL_KEYS
    values: dict[str, float] = {}
    sources: list[str] = []
    estimate = False
    for field_name, key in keys.items():
        q = profile.quantity("energy", key)
        values[field_name] = profile.energy_pj(key)
        estimate = estimate or q.is_estimate
        sources.append(f"{key} = {values[field_name]} pJ ({q.status}): {q.source}")
    return OperationEnergy(name=profile.name, neuromorphic=neuromorphic, estimate=estimate,
                           sources=tuple(sources), **values)


@dataclass(frozen=True)
class LayerEnergy:
    """Joules per inference of one layer, by kind of operation."""

    name: str
    synaptic_j: float
    neuron_j: float
    spike_j: float

    @property
    def total_j(self) -> float:
        return self.synaptic_j + self.neuron_j + self.spike_j

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "synaptic_j": self.synaptic_j, "neuron_j": self.neuron_j,
                "spike_j": self.spike_j, "total_j": self.total_j}


@dataclass(frozen=True)
class EnergyEstimate:
    """Estimated joules per inference, per layer, with the assumptions as text lines."""

    target: str
    estimate_only: bool          # the per-operation figures themselves are estimates
    basis: str
    per_layer: Mapping[str, LayerEnergy]
    assumptions: tuple[str, ...]

    @property
    def synaptic_j(self) -> float:
        return sum(l.synaptic_j for l in self.per_layer.values())

    @property
    def neuron_j(self) -> float:
        return sum(l.neuron_j for l in self.per_layer.values())

    @property
    def spike_j(self) -> float:
        return sum(l.spike_j for l in self.per_layer.values())

    @property
    def total_j(self) -> float:
        return sum(l.total_j for l in self.per_layer.values())

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "estimate_only": self.estimate_only, "basis": self.basis,
                "joules_per_inference": self.total_j, "synaptic_j": self.synaptic_j,
                "neuron_j": self.neuron_j, "spike_j": self.spike_j,
                "per_layer": {k: v.to_dict() for k, v in self.per_layer.items()},
                "assumptions": list(self.assumptions)}


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def estimate_energy(counts: RunCounts, costs: Any, *,
                    basis: Basis = "effective") -> EnergyEstimate:
    """Joules per inference of a counted run on a target.

    ``costs``: an :class:`OperationEnergy`, a ``ChipProfile`` or a chip name
    (``"loihi1"``, ``"loihi2"``, ``"gpu"``), read by :func:`operation_energy`.
    """
    if not isinstance(costs, OperationEnergy):
        costs = operation_energy(costs)
    if basis not in ("effective", "dense"):
        raise ConfigError("basis", f"unknown basis {basis!r}", valid=("effective", "dense"))
    mac_pj = costs.ac_pj if costs.mac_pj is None else costs.mac_pj
    charge_neurons = costs.neuromorphic and costs.neuron_active_pj is not None
    inactive_pj = (costs.neuron_inactive_pj if costs.neuron_inactive_pj is not None
                   else costs.neuron_active_pj)
    charge_spikes = costs.neuromorphic and costs.spike_pj is not None
    per_layer: dict[str, LayerEnergy] = {}
    macs_sum = gates_macs = 0.0
    states_missing = []
    for row in counts.rows():
        if basis == "dense":
            syn_pj = row.dense_ops * mac_pj
        else:
            syn_pj = row.effective_acs * costs.ac_pj + row.effective_macs * mac_pj
        macs_sum += row.effective_macs
        gate = counts.synops.per_layer.get(row.name + GATES_SUFFIX)
        if gate is not None:
            gates_macs += gate.effective_macs
        neuron_pj = 0.0
        if charge_neurons:
            neuron_pj = row.active_updates * costs.neuron_active_pj + row.inactive_updates * inactive_pj
            if not counts.neuron_updates.per_layer[row.name].state_given:
                states_missing.append(row.name)
        spike_pj = (row.spikes_per_sample or 0.0) * costs.spike_pj if charge_spikes else 0.0
        per_layer[row.name] = LayerEnergy(row.name, syn_pj * PJ, neuron_pj * PJ, spike_pj * PJ)

    lines = [f"target: {costs.name}" + (" (ESTIMATE: no published per-operation figures)"
                                        if costs.estimate else "")]
    lines += [f"source: {s}" for s in costs.sources]
    lines.append(f"{counts.n_samples} samples counted; joules are per inference (per sample)")
    if basis == "dense":
        lines.append(f"basis: dense, every possible synaptic operation charged as a MAC at "
                     f"{mac_pj} pJ (what a dense matrix product performs)")
    else:
        lines.append(f"basis: effective operations (NeuroBench rules): ACs at {costs.ac_pj} pJ, "
                     f"MACs at {mac_pj} pJ")
        if costs.mac_pj is None and macs_sum > 0:
            lines.append(f"{_fmt(macs_sum)} MACs per inference (graded inputs) have no MAC cost on "
                         f"this target and are charged as synaptic ops ({costs.ac_pj} pJ each, "
                         "as graded spikes); a binary-spike chip (Loihi 1) must first encode "
                         "them as spikes")
    if gates_macs > 0 and costs.neuromorphic:
        lines.append(f"{_fmt(gates_macs)} GPN gate MACs per inference are included although the "
                     "gates cannot run on a LIF datapath; deploy the folded network instead")
    if charge_neurons:
        if costs.neuron_inactive_pj is None:
            lines.append(f"neuron updates: {costs.neuron_active_pj} pJ each, active or not")
        else:
            lines.append(f"neuron updates: active {costs.neuron_active_pj} pJ, inactive "
                         f"{costs.neuron_inactive_pj} pJ; active = input event or non-zero state "
                         "that step")
        if states_missing:
            lines.append("no state trace for layers " + ", ".join(states_missing) +
                         ": active = input events only (a lower bound; energy a lower bound)")
    else:
        lines.append("neuron updates and spikes are not charged on this target")
    if charge_spikes:
        lines.append(f"spikes: {costs.spike_pj} pJ per spike sent, all assumed within one tile "
                     "(tile hops depend on the placement, not counted); input spike delivery "
                     "not counted")
    return EnergyEstimate(target=costs.name, estimate_only=costs.estimate, basis=basis,
                          per_layer=per_layer, assumptions=tuple(lines))
