"""NIR file / graph -> NetworkSpec: a reader with clear errors and a registry of converters.

:func:`nir_to_spec` reads any NIR graph that is a stack of layers, not only ours:

1. subgraphs are inlined (their Input/Output become pass-throughs), so snntorch's
   recurrent subgraph form reads like the flat form;
2. the graph must be a chain from its one Input to its one Output, except for
   recurrent loops ``N -> linear nodes -> N`` back into a neuron node ``N``
   (found as the back edges of a depth-first walk from the Input) and parallel
   paths of linear and Delay nodes that rejoin at one node (they add: a layer's
   delayed taps);
3. each node of the chain is converted by :data:`NODE_CONVERTERS` (node type ->
   small function) into linear operations (weight, bias) and discrete neurons
   (du, dv, input gain, bias, threshold), with the forward-Euler, current-first
   mapping of :mod:`.convention`;
4. consecutive linear operations are composed; each neuron takes the linear map
   before it as its weight (identity if none); a loop's linear map becomes its
   recurrent weight; linear maps after the last neuron become a non-spiking
   ``du = dv = 1`` layer (``v_t = W x_t + b``, exact).

Supported nodes: Input, Output, Affine, Linear, Scale, Conv1d (as the matrix it applies),
Flatten, Delay (whole steps: the layer's delayed taps), LIF, CubaLIF, IF, LI, CubaLI, I,
Threshold, and NIRGraph subgraphs. Shaped signals and populations (``[C, F]``) are kept
flat in C order. Anything else, or a parameter with no exact
discrete form, raises :class:`~spikedeploy.errors.ConversionError` naming the node,
its type and the remedy. With ``strict=False`` these documented approximations
are made instead, each with a :class:`NirImportWarning` that states the loss:

- ``dt / tau > 1`` (forward Euler overshoots): the decay is clamped to 1;
- ``v_reset != 0``: the voltage is shifted by ``v_reset`` (exact, except that the
  neuron then starts at ``v_reset`` instead of 0);
- an Affine bias ``b`` feeding a neuron with ``du < 1`` (a constant input current):
  replaced by the voltage bias ``gain * b / du`` it reaches in steady state (the
  first steps differ by ``gain * b (1 - du)^t / du``);
- a Delay of a fractional number of steps: rounded to whole steps;
- a bias before a non-zero Delay: applied from the first step.

A graph without our metadata is discretised with ``dt`` (default
:data:`~.convention.DEFAULT_DT`, announced with a warning when assumed); its
readout is ``"last"`` unless given, and its spec metadata records the import
(``nir_import``: dt, whether it was assumed, the approximations made).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import h5py
import nir
import numpy as np

from ..errors import ConfigError, ConversionError, DataFormatError, ShapeMismatchError
from ..hashing import array_digest
from ..netspec import READOUTS, LayerSpec, NetworkSpec
from ..quant.loihi_network import LoihiNetwork
from . import metadata_codec
from .conv_form import conv_matrix
from .convention import (CONVENTION, DEFAULT_DT, KEY_CONFIG, KEY_CONVENTION, KEY_DT, KEY_PROFILE, KEY_QUANTIZATION,
                         KEY_QUANTIZED_FROM, KEY_READOUT, KEY_SPEC_METADATA, NODE_KEY_LAYER, ROLE_NEURON,
                         ROLE_RECURRENT, ROLE_SYNAPSE, decay_from_tau)


class NirImportWarning(UserWarning):
    """An assumption (dt) or an approximation (``strict=False``) made while reading a NIR graph."""


# -- operations the converters produce ------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LinearOp:
    """``y = weight @ x + bias`` (float64; bias None means zero)."""

    node: str
    node_type: str
    weight: np.ndarray
    bias: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class NeuronOp:
    """A discrete neuron population (float64 [n] arrays)::

        u_t = (1 - du) u_{t-1} + gain * x_t
        v_t = (1 - dv) v_{t-1} + u_t + bias ;  spike v_t > vth, reset to 0 (vth None: no spikes)
    """

    node: str
    node_type: str
    layer: str
    du: np.ndarray
    dv: np.ndarray
    gain: np.ndarray
    bias: np.ndarray
    vth: np.ndarray | None

    @property
    def size(self) -> int:
        return int(self.du.shape[0])


@dataclass(frozen=True, eq=False)
class DelayOp:
    """``y_t = x_{t - steps}`` element-wise (int64 [n] steps, >= 0)."""

    node: str
    node_type: str
    steps: np.ndarray


Op = Union[LinearOp, NeuronOp, DelayOp]


@dataclass
class ReadContext:
    """What a converter knows: the step, strictness, and the size of the signal entering the node."""

    dt: float
    strict: bool
    size: int
    notes: list[str] = field(default_factory=list)

    def lossy(self, name: str, node_type: str, problem: str, loss: str, remedy: str) -> None:
        """Raise ConversionError (strict) or warn that ``loss`` is accepted (non-strict)."""
        if self.strict:
            raise ConversionError(name, node_type, problem,
                                  remedy=f"{remedy}; or read with strict=False to accept: {loss}")
        note = f"node {name!r} ({node_type}): {problem}; approximated: {loss}"
        self.notes.append(note)
        warnings.warn(note, NirImportWarning, stacklevel=4)


Converter = Callable[[str, nir.NIRNode, ReadContext], "list[Op]"]


# -- parameter helpers ------------------------------------------------------------------------
def _type(node: Any) -> str:
    return type(node).__name__


def _vector(name: str, node: Any, fieldname: str, n: int, *, allow_inf: bool = False) -> np.ndarray:
    """Parameter ``fieldname`` as a float64 [n] vector (scalars broadcast, unit axes dropped)."""
    value = getattr(node, fieldname)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConversionError(name, _type(node), f"{fieldname} is not numeric: {value!r}") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.ndim > 1 and arr.size == n:
        arr = arr.reshape(-1)                  # a shaped population ([C, F]): flattened in C order
    if arr.shape != (n,):
        raise ConversionError(name, _type(node), f"{fieldname} has shape {tuple(np.shape(value))}, "
                              f"expected {n} values (one per neuron of the incoming signal)",
                              remedy="give one value per neuron, or a scalar")
    bad = np.isnan(arr) | (np.isinf(arr) if not allow_inf else False)
    if np.any(bad):
        raise ConversionError(name, _type(node), f"{fieldname} contains NaN or inf",
                              remedy="repair the graph; non-finite parameters cannot be deployed")
    return arr


def _matrix(name: str, node: Any, fieldname: str, n_in: int) -> np.ndarray:
    w = np.asarray(getattr(node, fieldname), dtype=np.float64)
    if w.ndim != 2:
        raise ConversionError(name, _type(node), f"{fieldname} has shape {w.shape}; only 2-D [out, in] "
                              "matrices (dense layers on 1-D signals) are supported",
                              remedy="flatten the input and use a dense layer")
    if w.shape[1] != n_in:
        raise ConversionError(name, _type(node), f"{fieldname} expects {w.shape[1]} inputs, "
                              f"the incoming signal has {n_in}")
    if not np.all(np.isfinite(w)):
        raise ConversionError(name, _type(node), f"{fieldname} contains NaN or inf",
                              remedy="repair the graph; non-finite weights cannot be deployed")
    return w


def _decay(name: str, node: Any, fieldname: str, ctx: ReadContext) -> np.ndarray:
    """Forward-Euler decay ``dt / tau`` of the time-constant field ``fieldname``."""
    tau = _vector(name, node, fieldname, ctx.size, allow_inf=True)
    if np.any(tau <= 0):
        raise ConversionError(name, _type(node), f"{fieldname} must be positive, got min {tau.min():g}",
                              remedy=f"a time constant is a positive number of seconds: fix {fieldname} of "
                                     f"{name!r} in the graph (inf for a neuron without leak)")
    d = decay_from_tau(tau, ctx.dt)
    if np.any(d > 1):
        ctx.lossy(name, _type(node), f"dt / {fieldname} = {d.max():g} > 1 with dt = {ctx.dt:g} s "
                  "(forward Euler overshoots)", "the decay is clamped to 1 (the state is cleared each step)",
                  remedy=f"read with dt <= {tau.min():g} s")
        d = np.minimum(d, 1.0)
    return d


def _gain(name: str, node: Any, gain: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(gain)):
        raise ConversionError(name, _type(node), "the input gain (dt/tau) * r (* w_in) is not finite",
                              remedy="give finite r and w_in (and tau)")
    return gain


def _threshold(name: str, node: Any, ctx: ReadContext, dv: np.ndarray, bias: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(vth, bias)`` after the reset check: NIR resets to v_reset, the spec to 0."""
    vth = _vector(name, node, "v_threshold", ctx.size)
    v_reset = _vector(name, node, "v_reset", ctx.size) if getattr(node, "v_reset", None) is not None \
        else np.zeros(ctx.size)
    if np.any(v_reset != 0):
        ctx.lossy(name, _type(node), "v_reset != 0 (the spec resets to 0)",
                  "the voltage is shifted by v_reset (threshold vth - v_reset, bias - dv v_reset): exact "
                  "except that the neuron starts at v_reset instead of 0",
                  remedy="export the model with v_reset = 0")
        vth, bias = vth - v_reset, bias - dv * v_reset
    if np.any(vth <= 0):
        raise ConversionError(name, _type(node), f"thresholds must lie above the reset value, got "
                              f"v_threshold - v_reset = {vth.min():g}",
                              remedy="use positive thresholds")
    return vth, bias


def _layer_name(name: str, node: Any) -> str:
    meta = metadata_codec.decode(getattr(node, "metadata", None) or {})
    layer = meta.get(NODE_KEY_LAYER)
    return layer if isinstance(layer, str) and layer else name


# -- converters (node type -> list of operations) -----------------------------------------------
def convert_input(name: str, node: nir.Input, ctx: ReadContext) -> list[Op]:
    return []


def convert_output(name: str, node: nir.Output, ctx: ReadContext) -> list[Op]:
    shape = (node.output_type or {}).get("output")
    if shape is not None and int(np.prod(shape)) != ctx.size:
        raise ConversionError(name, "Output", f"declares shape {list(np.asarray(shape))}, "
                              f"the signal reaching it has {ctx.size} values")
    return []


def convert_affine(name: str, node: nir.Affine, ctx: ReadContext) -> list[Op]:
    w = _matrix(name, node, "weight", ctx.size)
    b = None if node.bias is None else _vector(name, node, "bias", w.shape[0])
    return [LinearOp(name, "Affine", w, b)]


def convert_linear(name: str, node: nir.Linear, ctx: ReadContext) -> list[Op]:
    return [LinearOp(name, "Linear", _matrix(name, node, "weight", ctx.size))]


def convert_scale(name: str, node: nir.Scale, ctx: ReadContext) -> list[Op]:
    return [LinearOp(name, "Scale", np.diag(_vector(name, node, "scale", ctx.size)))]


def convert_flatten(name: str, node: nir.Flatten, ctx: ReadContext) -> list[Op]:
    shape = (node.input_type or {}).get("input")
    if shape is not None and int(np.prod(shape)) != ctx.size:
        raise ConversionError(name, "Flatten", f"flattens the shape {list(np.asarray(shape))}, the incoming "
                              f"signal has {ctx.size} values")
    return []                   # signals are kept flat in C order: flattening changes nothing


def convert_conv1d(name: str, node: nir.Conv1d, ctx: ReadContext) -> list[Op]:
    """The convolution as the matrix it applies to the flat (channel-major) signal."""
    w = np.asarray(node.weight, dtype=np.float64)
    groups = int(node.groups)
    if w.ndim != 3 or ctx.size % (w.shape[1] * groups):
        raise ConversionError(name, "Conv1d", f"weight of shape {w.shape} does not divide the incoming "
                              f"{ctx.size} values into {w.shape[1] * groups} channels")
    bands = ctx.size // (w.shape[1] * groups)
    if node.input_shape is not None and int(np.prod(node.input_shape)) != bands:
        raise ConversionError(name, "Conv1d", f"declares input length {node.input_shape}, the incoming signal "
                              f"has {bands} per channel")
    if not np.all(np.isfinite(w)):
        raise ConversionError(name, "Conv1d", "weight contains NaN or inf")
    m = conv_matrix(w, bands, stride=int(node.stride), padding=node.padding, dilation=int(node.dilation),
                    groups=groups)
    bias = None
    if node.bias is not None and np.any(np.asarray(node.bias) != 0):
        bias = np.repeat(np.asarray(node.bias, dtype=np.float64), m.shape[0] // w.shape[0])
    return [LinearOp(name, "Conv1d", m, bias)]


def convert_delay(name: str, node: nir.Delay, ctx: ReadContext) -> list[Op]:
    delay = _vector(name, node, "delay", ctx.size)
    if not np.any(delay != 0):
        return []
    steps = delay / ctx.dt
    whole = np.round(steps)
    if np.any(steps < 0):
        raise ConversionError(name, "Delay", f"negative delays ({delay.min():g} s)", remedy="delays must be >= 0")
    if np.any(np.abs(steps - whole) > 1e-6 * np.maximum(1.0, whole)):
        ctx.lossy(name, "Delay", f"delays of {steps[np.abs(steps - whole) > 1e-6].max():g} steps are not whole "
                  f"steps of dt = {ctx.dt:g} s", "rounded to whole steps",
                  remedy="write delays as multiples of the graph's dt")
    return [DelayOp(name, "Delay", whole.astype(np.int64))]


def convert_lif(name: str, node: nir.LIF, ctx: ReadContext) -> list[Op]:
    dv = _decay(name, node, "tau", ctx)
    r = _vector(name, node, "r", ctx.size)
    bias = dv * _vector(name, node, "v_leak", ctx.size)
    vth, bias = _threshold(name, node, ctx, dv, bias)
    return [NeuronOp(name, "LIF", _layer_name(name, node), np.ones(ctx.size), dv,
                     _gain(name, node, dv * r), bias, vth)]


def convert_li(name: str, node: nir.LI, ctx: ReadContext) -> list[Op]:
    dv = _decay(name, node, "tau", ctx)
    r = _vector(name, node, "r", ctx.size)
    bias = dv * _vector(name, node, "v_leak", ctx.size)
    return [NeuronOp(name, "LI", _layer_name(name, node), np.ones(ctx.size), dv,
                     _gain(name, node, dv * r), bias, None)]


def convert_cuba_lif(name: str, node: nir.CubaLIF, ctx: ReadContext) -> list[Op]:
    du = _decay(name, node, "tau_syn", ctx)
    dv = _decay(name, node, "tau_mem", ctx)
    gain = du * _vector(name, node, "w_in", ctx.size) * dv * _vector(name, node, "r", ctx.size)
    bias = dv * _vector(name, node, "v_leak", ctx.size)
    vth, bias = _threshold(name, node, ctx, dv, bias)
    return [NeuronOp(name, "CubaLIF", _layer_name(name, node), du, dv, _gain(name, node, gain), bias, vth)]


def convert_cuba_li(name: str, node: nir.CubaLI, ctx: ReadContext) -> list[Op]:
    du = _decay(name, node, "tau_syn", ctx)
    dv = _decay(name, node, "tau_mem", ctx)
    gain = du * _vector(name, node, "w_in", ctx.size) * dv * _vector(name, node, "r", ctx.size)
    bias = dv * _vector(name, node, "v_leak", ctx.size)
    return [NeuronOp(name, "CubaLI", _layer_name(name, node), du, dv, _gain(name, node, gain), bias, None)]


def convert_if(name: str, node: nir.IF, ctx: ReadContext) -> list[Op]:
    n = ctx.size
    gain = ctx.dt * _vector(name, node, "r", n)
    vth, bias = _threshold(name, node, ctx, np.zeros(n), np.zeros(n))
    return [NeuronOp(name, "IF", _layer_name(name, node), np.ones(n), np.zeros(n),
                     _gain(name, node, gain), bias, vth)]


def convert_i(name: str, node: nir.I, ctx: ReadContext) -> list[Op]:
    n = ctx.size
    gain = ctx.dt * _vector(name, node, "r", n)
    return [NeuronOp(name, "I", _layer_name(name, node), np.ones(n), np.zeros(n),
                     _gain(name, node, gain), np.zeros(n), None)]


def convert_threshold(name: str, node: nir.Threshold, ctx: ReadContext) -> list[Op]:
    # z = H(x - thr) with no memory: du = dv = 1, so v_t = x_t.
    n = ctx.size
    thr = _vector(name, node, "threshold", n)
    if np.any(thr <= 0):
        raise ConversionError(name, "Threshold", f"thresholds must be positive, got min {thr.min():g}",
                              remedy="add a bias before the threshold instead")
    return [NeuronOp(name, "Threshold", _layer_name(name, node), np.ones(n), np.ones(n), np.ones(n),
                     np.zeros(n), thr)]


#: Node type -> converter. Pass ``converters={nir.X: fn}`` to :func:`nir_to_spec` to add or
#: override one; ``fn(name, node, ctx) -> list[LinearOp | NeuronOp]``.
NODE_CONVERTERS: dict[type, Converter] = {
    nir.Input: convert_input,
    nir.Output: convert_output,
    nir.Affine: convert_affine,
    nir.Linear: convert_linear,
    nir.Scale: convert_scale,
    nir.Flatten: convert_flatten,
    nir.Conv1d: convert_conv1d,
    nir.Delay: convert_delay,
    nir.LIF: convert_lif,
    nir.LI: convert_li,
    nir.CubaLIF: convert_cuba_lif,
    nir.CubaLI: convert_cuba_li,
    nir.IF: convert_if,
    nir.I: convert_i,
    nir.Threshold: convert_threshold,
}


def convert_node(name: str, node: Any, ctx: ReadContext,
                 converters: Mapping[type, Converter] | None = None) -> list[Op]:
    """Convert one node with the registry (``converters`` overriding :data:`NODE_CONVERTERS`)."""
    table = {**NODE_CONVERTERS, **(converters or {})}
    fn = table.get(type(node))
    if fn is None:
        fn = next((f for t, f in table.items() if isinstance(node, t)), None)
    if fn is None:
        supported = ", ".join(sorted(t.__name__ for t in table))
        raise ConversionError(name, _type(node), "no converter for this node type",
                              remedy=f"supported: {supported}; add one with "
                                     f"nir_to_spec(..., converters={{nir.{_type(node)}: fn}})")
    return list(fn(name, node, ctx))


# -- graph structure ------------------------------------------------------------------------------
class _PassThrough:
    """A subgraph's inner Input/Output after inlining."""


def _inline(graph: nir.NIRGraph, prefix: str = "", top: bool = True
            ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise ConversionError(full, "NIRGraph", f"a subgraph needs one Input and one Output node, "
                                      f"has {len(ins)} and {len(outs)}")
            sub_nodes, sub_edges = _inline(node, full + ".", top=False)
            nodes.update(sub_nodes)
            edges += sub_edges
            entry[name], exit_[name] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
        elif not top and isinstance(node, (nir.Input, nir.Output)):
            nodes[full] = _PassThrough()
        else:
            nodes[full] = node
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ConversionError(prefix + end, "missing", f"an edge ({a!r}, {b!r}) names a node the "
                                      "graph does not have", remedy="repair the graph's edges")
        edges.append((exit_.get(a, prefix + a), entry.get(b, prefix + b)))
    if top:
        for name in [k for k, v in nodes.items() if isinstance(v, _PassThrough)]:
            preds = [a for a, b in edges if b == name]
            succs = [b for a, b in edges if a == name]
            edges = [e for e in edges if name not in e] + [(a, b) for a in preds for b in succs]
            del nodes[name]
        edges = list(dict.fromkeys(edges))
    return nodes, edges


@dataclass(frozen=True)
class _Fork:
    """Parallel paths of nodes leaving one node of the chain and rejoining at ``join``, whose
    outputs add there (NIR sums a node's inputs): a layer's delayed taps, Delay -> Linear."""

    paths: tuple[tuple[str, ...], ...]
    join: str


def _fork(here: str, nxt: list[str], fsucc: Mapping[str, list[str]], fpred: Mapping[str, list[str]],
          in_loops: set[str], nodes: Mapping[str, Any]) -> _Fork:
    """The fork leaving ``here`` into ``nxt``: each branch a path of single-input, single-output
    nodes; every branch must end at the same node, fed by nothing else."""
    fwd = lambda d, k: [x for x in d[k] if x not in in_loops]  # noqa: E731
    paths, joins = [], set()
    for first in nxt:
        path = [first]
        while len(fwd(fpred, path[-1])) == 1:
            succ = fwd(fsucc, path[-1])
            if len(succ) != 1:
                problem = "leads nowhere (not to the Output)" if not succ else "branches again"
                raise ConversionError(path[-1], _type(nodes[path[-1]]), f"{problem} inside the fork from {here!r}",
                                      remedy="only parallel paths that rejoin at one node convert")
            path.append(succ[0])
        joins.add(path[-1])
        paths.append(tuple(path[:-1]))
    if len(joins) != 1:
        raise ConversionError(here, _type(nodes[here]), f"feeds {len(nxt)} branches that end at different nodes "
                              f"{sorted(joins)}: the graph is not a chain of layers",
                              remedy="only parallel paths (a layer's delayed taps) that rejoin at one node convert")
    join = joins.pop()
    ends = sorted(p[-1] if p else here for p in paths)
    if sorted(fwd(fpred, join)) != ends:
        raise ConversionError(join, _type(nodes[join]), f"is fed by {sorted(fwd(fpred, join))}, not only by the "
                              f"branches from {here!r}", remedy="only parallel paths from one node may join")
    return _Fork(tuple(paths), join)


def _structure(nodes: dict[str, Any], edges: list[tuple[str, str]]
               ) -> tuple[list[Any], dict[str, list[list[str]]]]:
    """(the chain from Input to Output: node names and :class:`_Fork` s, {neuron node: [loop paths]})."""
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConversionError("graph", "NIRGraph", f"needs exactly one Input and one Output node, has "
                              f"{len(inputs)} ({inputs}) and {len(outputs)} ({outputs})",
                              remedy="a NetworkSpec has one input and one output")
    source, sink = inputs[0], outputs[0]
    succ: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
    # Depth-first walk from the Input: edges into a node on the current path close a loop.
    state = {source: 1}
    back: list[tuple[str, str]] = []
    stack = [(source, iter(succ[source]))]
    while stack:
        name, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            state[name] = 2
            stack.pop()
        elif state.get(nxt) == 1:
            back.append((name, nxt))
        elif nxt not in state:
            state[nxt] = 1
            stack.append((nxt, iter(succ[nxt])))
    for name in nodes:
        if name not in state:
            raise ConversionError(name, _type(nodes[name]), "is not reachable from the Input node",
                                  remedy="remove it or connect it")
    fwd = [e for e in edges if e not in back]
    fsucc: dict[str, list[str]] = defaultdict(list)
    fpred: dict[str, list[str]] = defaultdict(list)
    for a, b in fwd:
        fsucc[a].append(b)
        fpred[b].append(a)
    loops: dict[str, list[list[str]]] = defaultdict(list)
    in_loops: set[str] = set()
    for src, dst in back:
        path: list[str] | None = [] if src == dst else None
        for first in ([] if src == dst else fsucc[dst]):
            p = [first]
            while p[-1] != src and len(fsucc[p[-1]]) == 1:
                p.append(fsucc[p[-1]][0])
            if p[-1] == src and not fsucc[src] and all(len(fpred[x]) == 1 for x in p):
                path = p
                break
        if path is None:
            raise ConversionError(dst, _type(nodes[dst]), f"the loop closed by the edge ({src!r}, {dst!r}) is "
                                  "not of the form neuron -> linear nodes -> the same neuron",
                                  remedy="only recurrence within one layer converts to a NetworkSpec")
        loops[dst].append(path)
        in_loops.update(path)
    chain: list[Any] = [source]
    while chain[-1] != sink:
        here = chain[-1]
        nxt = [b for b in fsucc[here] if b not in in_loops]
        if len(nxt) > 1:
            fork = _fork(here, nxt, fsucc, fpred, in_loops, nodes)
            chain += [fork, fork.join]
            continue
        if len(nxt) != 1:
            raise ConversionError(here, _type(nodes[here]), f"feeds {len(nxt)} nodes {nxt}: the graph is not a "
                                  "chain of layers", remedy="only layer stacks (with recurrence inside a layer) "
                                                            "convert to a NetworkSpec")
        preds = [a for a in fpred[nxt[0]] if a not in in_loops]
        if len(preds) != 1:
            raise ConversionError(nxt[0], _type(nodes[nxt[0]]), f"is fed by {len(preds)} nodes {preds}: the graph "
                                  "is not a chain of layers", remedy="merge the branches into one layer")
        if nxt[0] in chain:
            raise ConversionError(nxt[0], _type(nodes[nxt[0]]), "the chain of layers loops back to this node")
        chain.append(nxt[0])
    in_forks = {n for item in chain if isinstance(item, _Fork) for p in item.paths for n in p}
    left = [k for k in nodes if k not in chain and k not in in_loops and k not in in_forks]
    if left:
        raise ConversionError(left[0], _type(nodes[left[0]]), "is a branch off the chain of layers "
                              "(it does not lead to the Output)", remedy="remove it")
    return chain, dict(loops)


def _compose(first: tuple[np.ndarray, np.ndarray | None] | None, op: LinearOp
             ) -> tuple[np.ndarray, np.ndarray | None]:
    if first is None:
        return op.weight, op.bias
    w, b = first
    bias = None if b is None else op.weight @ b
    if op.bias is not None:
        bias = op.bias if bias is None else bias + op.bias
    return op.weight @ w, bias


def _current_bias(op: NeuronOp, bias_in: np.ndarray | None, ctx: ReadContext, what: str) -> np.ndarray:
    """Voltage bias for a constant input ``bias_in`` (before the gain): exact where du = 1."""
    if bias_in is None:
        return np.zeros(op.size)
    c = op.gain * bias_in
    lossy = (op.du < 1) & (c != 0)
    if np.any(lossy):
        ctx.lossy(op.node, op.node_type, f"a constant input current ({what}) feeds {int(lossy.sum())} "
                  "neurons with du < 1; the spec has a voltage bias only",
                  "it becomes the voltage bias gain*b/du reached in steady state (the first steps differ "
                  "by gain*b*(1-du)^t/du)", remedy="move the bias into the neuron's v_leak")
        return np.where(op.du < 1, c / np.where(op.du > 0, op.du, 1.0), c)
    return c


def _time_step(meta: Mapping[str, Any], ours: bool, dt: float | None) -> tuple[float, bool]:
    """``(dt, assumed)``: the given step, else the graph's own, else the default (with a warning)."""
    graph_dt = meta.get(KEY_DT) if ours else None
    dt_assumed = False
    if dt is None:
        if graph_dt is None:
            dt, dt_assumed = DEFAULT_DT, True
            warnings.warn(f"the NIR graph does not state its time step; assuming dt = {DEFAULT_DT:g} s "
                          "(pass dt=... to nir_to_spec / load_nir to choose)", NirImportWarning, stacklevel=3)
        else:
            dt = graph_dt
    elif graph_dt is not None and float(dt) != float(graph_dt):
        warnings.warn(f"reading with dt = {dt:g} s a graph made for dt = {graph_dt:g} s: its discrete "
                      "decays change", NirImportWarning, stacklevel=3)
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ConfigError("dt", f"must be a positive number of seconds, got {dt!r}")
    return float(dt), dt_assumed


def _input_size(name: str, node: Any) -> int:
    return int(np.prod(np.atleast_1d(np.asarray(node.input_type["input"]))))   # flat, in C order


def _loop_weight(op: NeuronOp, path: list[str], nodes: Mapping[str, Any], ctx: ReadContext,
                 converters: Mapping[type, Converter] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(weight, bias)`` of one recurrent loop of linear nodes back into ``op``'s neurons."""
    if op.vth is None:
        raise ConversionError(op.node, op.node_type, "a non-spiking neuron has a recurrent loop; "
                              "the spec's recurrence reads spikes", remedy="remove the loop")
    loop: tuple[np.ndarray, np.ndarray | None] | None = None
    loop_ctx = dataclasses.replace(ctx, size=op.size)
    loop_ctx.notes = ctx.notes
    for p in path:
        for lop in convert_node(p, nodes[p], loop_ctx, converters):
            if not isinstance(lop, LinearOp):
                raise ConversionError(p, _type(nodes[p]), f"lies on the recurrent loop of "
                                      f"{op.node!r}; only linear nodes may", remedy="remove it")
            if lop.weight.shape[1] != loop_ctx.size:
                raise ConversionError(p, lop.node_type, f"expects {lop.weight.shape[1]} inputs, "
                                      f"the loop carries {loop_ctx.size}")
            loop, loop_ctx.size = _compose(loop, lop), lop.weight.shape[0]
    w_loop, b_loop = loop if loop is not None else (np.eye(op.size), None)
    if w_loop.shape != (op.size, op.size):
        raise ConversionError(op.node, op.node_type, f"its recurrent loop maps {w_loop.shape[1]} "
                              f"to {w_loop.shape[0]} values, expected {op.size}")
    return w_loop, b_loop


class _LayerBuilder:
    """Layers with unique names, from the ops along the chain."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.layers: list[LayerSpec] = []

    def add(self, layer_name: str, node: str, node_type: str, **kw: Any) -> None:
        name, i = layer_name, 1
        while name in self.used:
            name, i = f"{layer_name}_{i}", i + 1
        self.used.add(name)
        try:
            self.layers.append(LayerSpec(name, **kw))
        except (ConfigError, ShapeMismatchError) as err:
            raise ConversionError(node, node_type, str(err)) from err


@dataclass
class _Taps:
    """The linear map since the last neuron, by delay: ``x -> sum_d W_d x_{t-d} + bias``."""

    taps: dict[int, np.ndarray]
    bias: np.ndarray | None = None
    last: str = ""                      # the last node applied (names a trailing readout)
    size: int = 0                       # the signal's size where a tap is still the identity (None)

    @classmethod
    def identity(cls, n: int) -> "_Taps":
        return cls({0: None}, size=n)   # the identity, kept implicit (composing it is a copy)

    def _matrix(self, w: np.ndarray | None) -> np.ndarray:
        return np.eye(self.size) if w is None else w

    def linear(self, op: LinearOp) -> "_Taps":
        bias = None if self.bias is None else op.weight @ self.bias
        if op.bias is not None:
            bias = op.bias if bias is None else bias + op.bias
        return _Taps({d: op.weight if w is None else op.weight @ w for d, w in self.taps.items()}, bias, op.node)

    def delay(self, op: DelayOp, ctx: ReadContext) -> "_Taps":
        if self.bias is not None and np.any((self.bias != 0) & (op.steps > 0)):
            ctx.lossy(op.node, op.node_type, "delays a constant (a bias before it)", "the constant is applied "
                      "from the first step (it would arrive that many steps later)",
                      remedy="put the bias after the delay")
        out: dict[int, np.ndarray] = {}
        for v in np.unique(op.steps):
            mask = (op.steps == v)[:, None]
            for d, w in self.taps.items():
                out[d + int(v)] = out.get(d + int(v), 0) + np.where(mask, self._matrix(w), 0.0)
        return _Taps(out, self.bias, op.node)

    def plus(self, other: "_Taps") -> "_Taps":
        taps = {d: self._matrix(w) for d, w in self.taps.items()}
        for d, w in other.taps.items():
            taps[d] = taps[d] + other._matrix(w) if d in taps else other._matrix(w)
        bias = self.bias if other.bias is None else other.bias if self.bias is None else self.bias + other.bias
        return _Taps(taps, bias, other.last or self.last)

    def weight(self, gain: np.ndarray | float = 1.0) -> dict[str, Any]:
        """``weight`` (the taps side by side) and ``delays`` for a LayerSpec."""
        delays = tuple(sorted(self.taps))
        g = np.asarray(gain, dtype=np.float64).reshape(-1, 1)        # per row, or one value
        return {"weight": np.concatenate([g * self._matrix(self.taps[d]) for d in delays], axis=1), "delays": delays}


def _apply(pending: _Taps, name: str, nodes: Mapping[str, Any], ctx: ReadContext,
           converters: Mapping[type, Converter] | None) -> tuple[_Taps, list[NeuronOp]]:
    """Node ``name``'s linear and delay operations applied to ``pending``; its neuron ops apart."""
    neurons = []
    for op in convert_node(name, nodes[name], ctx, converters):
        if isinstance(op, NeuronOp):
            neurons.append(op)
            continue
        if neurons:
            raise ConversionError(name, _type(nodes[name]), "applies a linear operation after its neurons")
        n_in = op.steps.shape[0] if isinstance(op, DelayOp) else op.weight.shape[1]
        if n_in != ctx.size:
            raise ConversionError(op.node, op.node_type, f"expects {n_in} inputs, the incoming signal has {ctx.size}")
        pending = pending.delay(op, ctx) if isinstance(op, DelayOp) else pending.linear(op)
        ctx.size = n_in if isinstance(op, DelayOp) else op.weight.shape[0]
    return pending, neurons


def _through_fork(fork: _Fork, pending: _Taps, nodes: Mapping[str, Any], ctx: ReadContext,
                  converters: Mapping[type, Converter] | None) -> _Taps:
    """Each branch applied to ``pending``; their sum (what the join node receives)."""
    total, size = None, None
    for path in fork.paths:
        branch, bctx = pending, dataclasses.replace(ctx)
        bctx.notes = ctx.notes
        for name in path:
            branch, neurons = _apply(branch, name, nodes, bctx, converters)
            if neurons:
                raise ConversionError(name, _type(nodes[name]), f"is a neuron on a branch into {fork.join!r}",
                                      remedy="only linear and Delay nodes may lie on parallel branches")
        if size is not None and bctx.size != size:
            raise ConversionError(fork.join, _type(nodes[fork.join]), f"receives {bctx.size} and {size} values "
                                  "from its branches")
        total, size = branch if total is None else total.plus(branch), bctx.size
    ctx.size = size
    return total


def _layers(chain: list[Any], loops: Mapping[str, list[list[str]]], nodes: Mapping[str, Any], ctx: ReadContext,
            converters: Mapping[type, Converter] | None) -> list[LayerSpec]:
    """Walk the chain: linear and delay nodes compose (by delay: a layer's taps) until a neuron node
    closes a layer; what is left after the last neuron becomes a non-spiking readout."""
    out = _LayerBuilder()
    pending: _Taps | None = None
    for item in chain:
        if pending is None:
            pending = _Taps.identity(ctx.size)
        if isinstance(item, _Fork):
            pending = _through_fork(item, pending, nodes, ctx, converters)
            continue
        pending, neurons = _apply(pending, item, nodes, ctx, converters)
        for op in neurons:
            if op.size != ctx.size:
                raise ConversionError(op.node, op.node_type, f"has {op.size} neurons, the incoming signal "
                                      f"has {ctx.size} values")
            bias = op.bias + _current_bias(op, pending.bias, ctx, "an Affine bias")
            rec = None
            for path in loops.get(op.node, []):
                w_loop, b_loop = _loop_weight(op, path, nodes, ctx, converters)
                rec = op.gain[:, None] * w_loop + (0 if rec is None else rec)
                bias = bias + _current_bias(op, b_loop, ctx, "a bias on the recurrent loop")
            out.add(op.layer, op.node, op.node_type, **pending.weight(op.gain), du=op.du, dv=op.dv,
                    vth=op.vth, bias=bias, rec_weight=rec)
            pending = _Taps.identity(ctx.size)
    if pending is not None and pending.last:
        name = pending.last
        out.add(name, name, _type(nodes[name]), **pending.weight(), du=1.0, dv=1.0, vth=None, bias=pending.bias)
    if not out.layers:
        raise ConversionError("graph", "NIRGraph", "has no layers between its Input and Output")
    return out.layers


def nir_to_spec(graph: nir.NIRGraph, dt: float | None = None, strict: bool = True, *,
                readout: str | None = None, converters: Mapping[type, Converter] | None = None
                ) -> NetworkSpec:
    """The NetworkSpec of a NIR graph (ours or another framework's); see the module docstring.

    Args:
        graph: a ``nir.NIRGraph``.
        dt: the step in seconds. None: the graph's own (our metadata) or
            :data:`~.convention.DEFAULT_DT` with a :class:`NirImportWarning`. Given and
            different from the graph's own: used, with a warning.
        strict: refuse (ConversionError) what has no exact discrete form; False makes
            the documented approximations with a warning each.
        readout: the spec's readout; None: the graph's own, else "last".
        converters: node type -> converter, added to / overriding :data:`NODE_CONVERTERS`.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise ConfigError("graph", f"expected a nir.NIRGraph, got {type(graph).__name__}",
                          remedy="read the file with spikedeploy.nir_io.read_nir first")
    meta = graph_metadata(graph)
    ours = KEY_CONVENTION in meta
    if meta.get(KEY_PROFILE) not in (None, "nir"):
        raise ConversionError("graph", "NIRGraph", f"written for {meta[KEY_PROFILE]} (export-nir --for "
                              f"{meta[KEY_PROFILE]}): its readout neuron is left out and its parameters are in "
                              f"{meta[KEY_PROFILE]}'s form", remedy="export the checkpoint again without --for (or "
                              "with --for nir) to run it here")
    if ours and meta[KEY_CONVENTION] != CONVENTION:
        warnings.warn(f"the graph follows convention {meta[KEY_CONVENTION]!r}, this reader {CONVENTION!r}",
                      NirImportWarning, stacklevel=2)
    dt, dt_assumed = _time_step(meta, ours, dt)
    if readout is None:
        readout = str(meta.get(KEY_READOUT, "last")) if ours else "last"
    if readout not in READOUTS:
        raise ConfigError("readout", f"unknown readout {readout!r}", valid=READOUTS)
    nodes, edges = _inline(graph)
    chain, loops = _structure(nodes, edges)
    input_size = _input_size(chain[0], nodes[chain[0]])
    ctx = ReadContext(dt=dt, strict=bool(strict), size=input_size)
    layers = _layers(chain, loops, nodes, ctx, converters)
    if ours:
        spec_meta = dict(meta.get(KEY_SPEC_METADATA) or {})
    else:
        spec_meta = {"nir_import": {"dt": dt, "dt_assumed": dt_assumed, "approximations": list(ctx.notes)}}
    try:
        return NetworkSpec(input_size=input_size, layers=tuple(layers), readout=readout, dt=dt,
                           metadata=spec_meta)
    except (ConfigError, ShapeMismatchError) as err:
        raise ConversionError("graph", "NIRGraph", str(err)) from err


# -- files and metadata ---------------------------------------------------------------------------
def read_nir(path: str | Path, *, type_check: bool = True) -> nir.NIRGraph:
    """Read a NIR file with ``nir.read`` (type-checked by default).

    Raises DataFormatError naming the file when it is missing, not HDF5, or not a
    NIR graph ``nir.read`` accepts.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no such file", remedy="check the path")
    if not h5py.is_hdf5(path):
        raise DataFormatError(path, "not an HDF5 file, so not a NIR graph",
                              remedy="NIR graphs are written with nir.write (e.g. spikedeploy.nir_io.write_nir)")
    try:
        return nir.read(path, type_check=type_check)
    except Exception as err:  # nir raises KeyError/ValueError/AssertionError/TypeError on bad files
        raise DataFormatError(path, f"nir.read cannot read it as a NIR graph ({type(err).__name__}: {err})",
                              remedy="re-export it with nir.write (nir >= 1.0)"
                                     + ("; or read it with type_check=False" if type_check else "")) from err


def load_nir(path: str | Path, dt: float | None = None, strict: bool = True, *,
             readout: str | None = None, converters: Mapping[type, Converter] | None = None) -> NetworkSpec:
    """:func:`read_nir` then :func:`nir_to_spec`."""
    return nir_to_spec(read_nir(path), dt, strict, readout=readout, converters=converters)


def graph_metadata(graph: nir.NIRGraph) -> dict[str, Any]:
    """The graph's metadata, decoded (see :mod:`.metadata_codec`); {} if none."""
    meta = graph.metadata if isinstance(graph.metadata, Mapping) else {}
    return metadata_codec.decode(dict(meta))


def read_quantization(graph: nir.NIRGraph) -> dict[str, Any] | None:
    """The quantised network's plain dict stored by the exporter (``LoihiNetwork.from_dict`` reads it), or None."""
    return graph_metadata(graph).get(KEY_QUANTIZATION)


def read_loihi_network(graph: nir.NIRGraph) -> LoihiNetwork | None:
    """The stored quantised network as a ``spikedeploy.quant.loihi_network.LoihiNetwork``, or None.
    The graph's float parameters must be the ones the integers were made from
    (:func:`check_quantized_from`): integers that no longer match are refused."""
    d = read_quantization(graph)
    if d is None:
        return None
    check_quantized_from(graph)
    return LoihiNetwork.from_dict(d)


#: Which node of a layer holds each NetworkSpec field (for the message naming it).
_FIELD_ROLE = {"weight": ROLE_SYNAPSE, "rec_weight": ROLE_RECURRENT}


def check_quantized_from(graph: nir.NIRGraph) -> bool:
    """Compare the graph's float parameters, read at its own dt, with the digests of those the
    stored Loihi integers were made from (:data:`~.convention.KEY_QUANTIZED_FROM`). Returns
    False when the graph stores no digests (written before they were), True when all match;
    a difference raises ConversionError naming the layer's node and the field."""
    digests = graph_metadata(graph).get(KEY_QUANTIZED_FROM)
    if digests is None:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # the graph's own dt, its own convention
        spec = nir_to_spec(graph)
    layers = {layer.name: layer for layer in spec.layers}
    remedy = ("re-export the graph from its checkpoint (`spikedeploy export-nir MODEL.pt --quantized`) so that "
              "the Loihi integers are made from these parameters")
    for name, stored in dict(digests).items():
        if name not in layers:
            raise ConversionError(name, "layer", "the stored Loihi integers have a layer the graph no longer has",
                                  remedy=remedy)
        for what, want in dict(stored).items():
            value = getattr(layers[name], what, None)
            if value is None or array_digest(value) != want:
                node = f"{name}.{_FIELD_ROLE.get(what, ROLE_NEURON)}"
                kind = _type(graph.nodes[node]) if node in graph.nodes else "layer"
                raise ConversionError(node, kind, f"its {what} is not the one the stored Loihi integers were made "
                                      "from (the float parameters were changed after export)", remedy=remedy)
    return True


def read_config(graph: nir.NIRGraph) -> dict[str, Any] | None:
    """The model/data configuration stored by the exporter, or None."""
    return graph_metadata(graph).get(KEY_CONFIG)
