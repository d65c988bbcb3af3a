"""NIR graph -> what runs in Lava: a registry of small converters, one per NIR node type.

The path from a NIR file to Lava's own processes has three stages, each owned by
one module; this one ties them together and says, node by node, what the Lava
graph gets:

1. **NIR -> float network** (:func:`spikedeploy.nir_io.nir_to_spec`): each node is
   read by a converter into linear operations and discrete neurons (forward Euler
   with ``dt``, ``docs/nir-conventions.md``); consecutive linear nodes compose into
   one weight matrix per layer, a loop back into a neuron becomes its recurrent
   matrix.
2. **float -> integers** (the stored :class:`~spikedeploy.quant.loihi_network.LoihiNetwork`
   of our exports, or :func:`spikedeploy.quant.ptq.quantize` on calibration data).
3. **integers -> Lava processes** (:func:`spikedeploy.lava_backend.build.build_graph`):
   per layer one ``LIFReset`` per decay group, ``Dense``/``Sparse`` connections with
   ``weight_exp``, recurrent connections, a ``RingBuffer`` source and recorders.

:data:`LAVA_CONVERTERS` maps a NIR node type to a function
``fn(name, node, ctx) -> (ops, LavaTarget)``: the operations stage 1 composes (it
reuses nir_io's own converter for the node, so the numbers are read once, in one
place) and the :class:`LavaTarget` the node becomes in stage 3 (its role and the
Lava processes, in words). Only the types in this registry are accepted for Lava:
a graph with any other node (or a parameter Lava cannot express) raises
:class:`~spikedeploy.errors.ConversionError` naming the node and the remedy;
``strict=False`` makes nir_io's documented approximations instead, each with a
warning that is recorded in the plan.

=================  =========================================================================
NIR node           Lava
=================  =========================================================================
Input              ``RingBuffer`` source playing the binned input spikes
Affine, Linear     ``Dense`` (``Sparse`` when replicated): 8-bit weights x 2^weight_exp;
                   an Affine bias becomes the next neuron's ``bias_mant << bias_exp``
Linear on a loop   the layer's recurrent ``Dense`` (previous step's spikes)
Scale              folded into the layer's Dense (a diagonal matrix)
Flatten            nothing (one non-unit dimension only)
Delay              nothing if all delays are 0; otherwise refused (strict) or dropped
                   with a warning -- Lava's ``DelayDense`` exists, but the integer
                   network and the emulator have no delays to verify it against
LIF, CubaLIF, IF   one ``LIFReset`` per decay group (neurons sharing du, dv, vth);
                   LIF/IF have no current memory (du = 4095); IF has dv = 0
LI, CubaLI, I      the readout: a non-spiking ``LIFReset`` (vth at its maximum, 131071)
                   whose voltage is recorded; I is an integrator (dv = 0)
Output             recorders: spikes of every layer, the readout voltage
=================  =========================================================================

**Adding a primitive** is one function and one registry line, e.g. NIR's
``Threshold`` (``z = H(x - thr)``, no memory) as a LIF with du = dv = 1::

    def lava_threshold(name, node, ctx):
        return load.convert_threshold(name, node, ctx), LavaTarget(ROLE_NEURONS, "LIFReset, no memory")

    LAVA_CONVERTERS[nir.Threshold] = lava_threshold      # or convert_graph(..., converters={...})

(``docs/lava-backend.md`` has the full recipe.) A converter may also return
operations of its own (:class:`~spikedeploy.nir_io.load.LinearOp`,
:class:`~spikedeploy.nir_io.load.NeuronOp`) for a node nir_io does not read.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import nir
import numpy as np

from ..errors import ConfigError, ConversionError
from ..netspec import NetworkSpec
from ..nir_io import load
from ..nir_io.load import LinearOp, NeuronOp, NirImportWarning, Op, ReadContext
from ..quant.loihi_network import LoihiNetwork
from ..quant.ptq import QuantConfig, QuantReport, quantize
from .adapters import LavaNetwork

#: Roles a node can play in the Lava graph.
ROLE_SOURCE = "source"      # the input: RingBuffer
ROLE_PROBE = "probe"        # the output: recorders
ROLE_PASS = "pass"          # nothing in Lava (identity)
ROLE_DENSE = "dense"        # a connection (Dense / Sparse); on a loop, the recurrent one
ROLE_NEURONS = "neurons"    # spiking LIFReset processes, one per decay group
ROLE_READOUT = "readout"    # a non-spiking LIFReset whose voltage is recorded
ROLES = (ROLE_SOURCE, ROLE_PROBE, ROLE_PASS, ROLE_DENSE, ROLE_NEURONS, ROLE_READOUT)


@dataclass(frozen=True)
class LavaTarget:
    """What a NIR node becomes in the Lava graph: its role and the processes, in words."""

    role: str
    lava: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError("LavaTarget.role", f"unknown role {self.role!r}", valid=ROLES)


LavaConverter = Callable[[str, Any, ReadContext], "tuple[Sequence[Op], LavaTarget]"]

_DENSE = "Dense: 8-bit weights x 2^weight_exp (Sparse when replicated)"


# -- the converters ----------------------------------------------------------------------------
def lava_input(name: str, node: nir.Input, ctx: ReadContext):
    return load.convert_input(name, node, ctx), LavaTarget(ROLE_SOURCE, "RingBuffer source (binned input spikes)")


def lava_output(name: str, node: nir.Output, ctx: ReadContext):
    return load.convert_output(name, node, ctx), LavaTarget(ROLE_PROBE, "recorders (spikes, readout voltage)")


def lava_affine(name: str, node: nir.Affine, ctx: ReadContext):
    return load.convert_affine(name, node, ctx), LavaTarget(
        ROLE_DENSE, _DENSE + "; the bias goes to the neuron's bias_mant << bias_exp")


def lava_linear(name: str, node: nir.Linear, ctx: ReadContext):
    return load.convert_linear(name, node, ctx), LavaTarget(ROLE_DENSE, _DENSE)


def lava_conv1d(name: str, node: nir.Conv1d, ctx: ReadContext):
    return load.convert_conv1d(name, node, ctx), LavaTarget(
        ROLE_DENSE, _DENSE + "; the convolution's matrix over the flat channel-major signal")


def lava_scale(name: str, node: nir.Scale, ctx: ReadContext):
    return load.convert_scale(name, node, ctx), LavaTarget(ROLE_DENSE, "folded into the layer's Dense (diagonal)")


def lava_flatten(name: str, node: nir.Flatten, ctx: ReadContext):
    return load.convert_flatten(name, node, ctx), LavaTarget(ROLE_PASS, "nothing (identity)")


def lava_delay(name: str, node: nir.Delay, ctx: ReadContext):
    ops = load.convert_delay(name, node, ctx)      # zero delays: an identity
    if not ops:
        return ops, LavaTarget(ROLE_PASS, "nothing (zero delay)")
    return ops, LavaTarget(ROLE_DENSE, "the layer's synaptic delays: DelayDense (DelaySparse when replicated), "
                                       "one per delay, every synapse of it delayed alike")


def lava_lif(name: str, node: nir.LIF, ctx: ReadContext):
    return load.convert_lif(name, node, ctx), LavaTarget(ROLE_NEURONS, "LIFReset per decay group (du = 4095)")


def lava_cuba_lif(name: str, node: nir.CubaLIF, ctx: ReadContext):
    return load.convert_cuba_lif(name, node, ctx), LavaTarget(ROLE_NEURONS, "LIFReset per decay group")


def lava_if(name: str, node: nir.IF, ctx: ReadContext):
    return load.convert_if(name, node, ctx), LavaTarget(ROLE_NEURONS, "LIFReset per group (du = 4095, dv = 0)")


def lava_li(name: str, node: nir.LI, ctx: ReadContext):
    return load.convert_li(name, node, ctx), LavaTarget(
        ROLE_READOUT, "non-spiking LIFReset (vth at max), voltage recorded")


def lava_cuba_li(name: str, node: nir.CubaLI, ctx: ReadContext):
    return load.convert_cuba_li(name, node, ctx), LavaTarget(
        ROLE_READOUT, "non-spiking LIFReset (vth at max), voltage recorded")


def lava_i(name: str, node: nir.I, ctx: ReadContext):
    return load.convert_i(name, node, ctx), LavaTarget(
        ROLE_READOUT, "non-spiking LIFReset (dv = 0: integrator), voltage recorded")


#: NIR node type -> Lava converter. Add or override entries here, or pass
#: ``converters={nir.X: fn}`` to :func:`convert_graph` / ``run_nir``.
LAVA_CONVERTERS: dict[type, LavaConverter] = {
    nir.Input: lava_input,
    nir.Output: lava_output,
    nir.Affine: lava_affine,
    nir.Linear: lava_linear,
    nir.Scale: lava_scale,
    nir.Conv1d: lava_conv1d,
    nir.Flatten: lava_flatten,
    nir.Delay: lava_delay,
    nir.LIF: lava_lif,
    nir.CubaLIF: lava_cuba_lif,
    nir.IF: lava_if,
    nir.LI: lava_li,
    nir.CubaLI: lava_cuba_li,
    nir.I: lava_i,
}


# -- the plan ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodePlan:
    """One NIR node and what it becomes."""

    name: str
    node_type: str
    target: LavaTarget
    layer: str | None = None      # the network layer it belongs to (None: source, probe, pass)
    recurrent: bool = False       # a connection on a loop back into its layer's neurons


@dataclass(frozen=True)
class LayerPlan:
    """One layer of the network: its connection nodes, neuron node and recurrent nodes."""

    name: str
    synapse_nodes: tuple[str, ...]
    neuron_node: str | None          # None: a readout made of linear nodes only (du = dv = 1)
    neuron_type: str
    recurrent_nodes: tuple[str, ...]
    spiking: bool


@dataclass(frozen=True, eq=False)
class LavaPlan:
    """What :func:`convert_graph` read: the float network and, per node and layer, the Lava side."""

    spec: NetworkSpec
    nodes: tuple[NodePlan, ...]
    layers: tuple[LayerPlan, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)   # assumptions and approximations (warnings)

    def layer(self, name: str) -> LayerPlan:
        for l in self.layers:
            if l.name == name:
                return l
        raise ConfigError("layer", f"no layer named {name!r}", valid=[l.name for l in self.layers])

    def describe(self, net: LavaNetwork | None = None, decays: str = "groups") -> str:
        """A table NIR node -> Lava processes; with the network ``net`` Lava runs
        (:mod:`.adapters`), the LIF processes each layer got (``decays``: "groups" or
        "per-neuron") and, for ``fixed_pt``, the exponents."""

        def processes(layer: str) -> str:
            if decays == "per-neuron":
                return f" -> 1 process (per-neuron decays: {len(net.layer(layer).decay_groups())} profiles)"
            return f" -> {len(net.layer(layer).decay_groups())} process(es)"

        lines = [f"{'NIR node':<22} {'type':<9} Lava"]
        for n in self.nodes:
            what = n.target.lava
            if n.layer is not None:
                what = (f"recurrent connection of {n.layer!r}: " if n.recurrent else
                        f"{n.layer!r}: ") + what
                if net is not None and n.target.role in (ROLE_NEURONS, ROLE_READOUT):
                    what += processes(n.layer)
                if net is not None and net.config == "fixed_pt" and n.target.role == ROLE_DENSE:
                    l = net.layer(n.layer)
                    what += f" (weight_exp {l.rec_exp if n.recurrent else l.weight_exp})"
            lines.append(f"{n.name:<22} {n.node_type:<9} {what}")
        for lp in self.layers:
            if lp.neuron_node is None:
                extra = ""
                if net is not None:
                    extra = processes(lp.name)
                lines.append(f"{'(after ' + lp.synapse_nodes[-1] + ')':<22} {'-':<9} {lp.name!r}: non-spiking "
                             f"readout LIFReset (du = dv = 1: v = W x + b), voltage recorded{extra}")
        return "\n".join(lines)


def _on_cycles(graph: nir.NIRGraph) -> set[str]:
    """Names (as nir_io's reader names them, subgraphs inlined) of the nodes on a loop."""
    nodes, edges = load._inline(graph)
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    on = set()
    for start in nodes:
        seen, stack = set(), list(succ.get(start, []))
        while stack:
            x = stack.pop()
            if x == start:
                on.add(start)
                break
            if x in seen:
                continue
            seen.add(x)
            stack.extend(succ.get(x, []))
    return on


def _refuse(supported: Sequence[str]) -> Callable[[str, Any, ReadContext], list[Op]]:
    def refuse(name: str, node: Any, ctx: ReadContext) -> list[Op]:
        raise ConversionError(name, type(node).__name__, "has no Lava conversion",
                              remedy=f"supported for Lava: {', '.join(supported)}; add one with "
                                     f"LAVA_CONVERTERS[nir.{type(node).__name__}] = fn or "
                                     "convert_graph(..., converters={...}) (docs/lava-backend.md)")
    return refuse


def convert_graph(graph: nir.NIRGraph, dt: float | None = None, strict: bool = True, *,
                  readout: str | None = None,
                  converters: Mapping[type, LavaConverter] | None = None) -> LavaPlan:
    """Read ``graph`` (ours or any framework's) for Lava: the float network and the node plan.

    Args:
        graph: a ``nir.NIRGraph``.
        dt: the step in seconds (None: the graph's own, or nir_io's default with a
            recorded note; ``run_nir`` passes the input frame length instead).
        strict: refuse what Lava cannot express exactly (ConversionError); False makes
            the documented approximations, recorded in :attr:`LavaPlan.notes`.
        readout: the network's readout ("last", "mean", "max"); None: the graph's own.
        converters: node type -> converter, added to / overriding :data:`LAVA_CONVERTERS`.

    Raises:
        ConversionError: an unsupported node or parameter (naming the node and the
            remedy), or a structure Lava cannot run (a non-spiking layer feeding another).
    """
    table = {**LAVA_CONVERTERS, **(converters or {})}
    for t, fn in table.items():
        if not (isinstance(t, type) and callable(fn)):
            raise ConfigError("converters", f"expected {{node type: function}}, got {t!r}: {fn!r}")
    calls: list[tuple[str, str, LavaTarget, list[Op]]] = []

    def wrap(fn: LavaConverter) -> Callable[[str, Any, ReadContext], list[Op]]:
        def converter(name: str, node: Any, ctx: ReadContext) -> list[Op]:
            out = fn(name, node, ctx)
            if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], LavaTarget)):
                raise ConfigError(f"Lava converter for {type(node).__name__}",
                                  "must return (list of LinearOp/NeuronOp, LavaTarget)")
            ops = list(out[0])
            calls.append((name, type(node).__name__, out[1], ops))
            return ops
        return converter

    supported = sorted(t.__name__ for t in table)
    nir_table: dict[type, Any] = {t: _refuse(supported) for t in load.NODE_CONVERTERS if t not in table}
    nir_table.update({t: wrap(fn) for t, fn in table.items()})
    nir_table[object] = _refuse(supported)       # any other type (nir_io matches it last, by isinstance)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirImportWarning)
        spec = load.nir_to_spec(graph, dt, strict, readout=readout, converters=nir_table)
    notes = []
    for w in caught:
        if issubclass(w.category, NirImportWarning):
            notes.append(str(w.message))
        else:  # pragma: no cover - pass other warnings on
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for note in notes:
        warnings.warn(note, NirImportWarning, stacklevel=2)

    cyclic = _on_cycles(graph)
    node_plans: list[NodePlan] = []
    layers: list[LayerPlan] = []
    pending: list[str] = []
    index = 0
    for name, node_type, target, ops in calls:
        n_neurons = sum(isinstance(op, NeuronOp) for op in ops)
        if n_neurons:
            for op in ops:
                if isinstance(op, NeuronOp):
                    lname = spec.layers[index].name
                    layers.append(LayerPlan(lname, tuple(pending), name, node_type, (), op.vth is not None))
                    pending = []
                    index += 1
            node_plans.append(NodePlan(name, node_type, target, layers[-1].name))
        elif any(isinstance(op, (LinearOp, load.DelayOp)) for op in ops) and name in cyclic and layers:
            lp = layers[-1]
            layers[-1] = dataclasses.replace(lp, recurrent_nodes=lp.recurrent_nodes + (name,))
            node_plans.append(NodePlan(name, node_type, target, lp.name, recurrent=True))
        elif any(isinstance(op, (LinearOp, load.DelayOp)) for op in ops):
            pending.append(name)
            node_plans.append(NodePlan(name, node_type, target, None))
        else:
            node_plans.append(NodePlan(name, node_type, target, None))
    if index < len(spec.layers):          # linear nodes after the last neuron: a du = dv = 1 readout
        layers.append(LayerPlan(spec.layers[index].name, tuple(pending), None, "linear", (), False))
        pending = []
    # the connection nodes now know their layer
    owner = {n: lp.name for lp in layers for n in lp.synapse_nodes}
    node_plans = [dataclasses.replace(n, layer=owner.get(n.name, n.layer)) for n in node_plans]
    for lp, layer in zip(layers[:-1], spec.layers[:-1]):
        if not layer.spiking:
            raise ConversionError(lp.neuron_node or lp.name, lp.neuron_type,
                                  "a non-spiking neuron feeds another layer; in Lava (and on Loihi) layers pass "
                                  "spikes, only the last layer (the readout) may be non-spiking",
                                  remedy="make it a spiking node (LIF, CubaLIF, IF) or move it to the end")
    return LavaPlan(spec=spec, nodes=tuple(node_plans), layers=tuple(layers), notes=tuple(notes))


# -- the network Lava runs ---------------------------------------------------------------------
def check_stored_network(net: Any, spec: NetworkSpec) -> None:
    """ConversionError unless the stored integer network has the graph's layers (names, sizes, recurrence)."""
    problems = []
    if net.input_size != spec.input_size:
        problems.append(f"input size {net.input_size} vs the graph's {spec.input_size}")
    if len(net.layers) != len(spec.layers):
        problems.append(f"{len(net.layers)} layers vs the graph's {len(spec.layers)}")
    for a, b in zip(net.layers, spec.layers):
        if (a.name, a.n_in, a.n_out, a.recurrent, a.spiking, a.delays) != \
                (b.name, b.n_in, b.n_out, b.recurrent, b.spiking, b.delays):
            problems.append(f"layer {a.name!r} ({a.n_in} -> {a.n_out}, recurrent {a.recurrent}, spiking "
                            f"{a.spiking}, delays {list(a.delays)}) vs the graph's {b.name!r} ({b.n_in} -> "
                            f"{b.n_out}, delays {list(b.delays)}, recurrent "
                            f"{b.recurrent}, spiking {b.spiking})")
    if problems:
        raise ConversionError("graph", "NIRGraph", "the stored Loihi integers (spikedeploy.quantization) do not "
                              "match the graph's layers: " + "; ".join(problems),
                              remedy="re-export the model with `spikedeploy export-nir --quantized`")


@dataclass(frozen=True, eq=False)
class IntegerNetwork:
    """The integer network for ``fixed_pt``, and where it came from."""

    net: LoihiNetwork
    source: str                   # "stored" (the graph's metadata) or "quantized" (on the fly)
    report: QuantReport | None = None   # when quantised here


def integer_network(plan: LavaPlan, graph: nir.NIRGraph, calib_inputs: Any = None, *, calib_labels: Any = None,
                    allow_approx: bool = False, headroom: float = 2.0,
                    metadata: Mapping[str, Any] | None = None) -> IntegerNetwork:
    """The graph's stored LoihiNetwork (checked against the plan), else the plan's float
    network quantised on ``calib_inputs`` ([B, T, in] binary spikes) with the project's
    quantiser (:func:`spikedeploy.quant.ptq.quantize`)."""
    stored = load.read_loihi_network(graph)
    if stored is not None:
        check_stored_network(stored, plan.spec)
        return IntegerNetwork(stored, "stored")
    if calib_inputs is None:
        raise ConfigError("calibration data", "the graph holds no Loihi integers, so it must be quantised here, "
                                              "which needs calibration samples",
                          remedy="pass --calibrate DATA.h5 (SHD format), or export the model with "
                                 "`spikedeploy export-nir --quantized`, or run it in floating point (--float)")
    x = np.asarray(calib_inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        net, report = quantize(plan.spec, x, labels=calib_labels,
                               config=QuantConfig(headroom=headroom, allow_approx=allow_approx),
                               metadata={"quantized_by": "spikedeploy.lava_backend", **dict(metadata or {})})
    return IntegerNetwork(net, "quantized", report)
