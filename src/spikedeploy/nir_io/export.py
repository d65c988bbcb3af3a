"""NetworkSpec (+ optional quantised network) -> NIR graph, and an atomic writer.

Each spec layer becomes up to three nodes, named after the layer::

    <layer>.synapse    Affine(weight, bias)              role "synapse"
    <layer>.neuron     LIF | CubaLIF | IF | LI | CubaLI | I  role "neuron"
    <layer>.recurrent  Linear(rec_weight)                role "recurrent" (if any)

wired ``input -> L1.synapse -> L1.neuron -> L2.synapse -> ... -> output``, with a
recurrent layer's loop as the edges ``L.neuron -> L.recurrent -> L.neuron`` (the
flat form that nirtorch, snntorch and NIR's own examples use; the loader also
reads snntorch's subgraph form). A layer with delayed taps (``spikedeploy.delays``)
writes its first tap as ``L.synapse`` and each other tap ``d`` as a parallel branch
``source -> L.delay<d> (Delay, d dt seconds) -> L.tap<d> (Linear) -> L.neuron``
(a first tap with a delay gets ``L.delay<d>`` before ``L.synapse``); NIR sums
the branches at the neuron. The node type follows the layer's decays:

============================  =============================  =========================
layer                         spiking                        non-spiking (vth None)
============================  =============================  =========================
all du = 1, all dv > 0        LIF                            LI
all du = 1, all dv = 0        IF                             I
some du < 1, all dv > 0       CubaLIF                        CubaLI
du = 0, or dv = 0 with du<1,  refused (ConversionError)      refused
or dv = 0 and dv > 0 mixed
============================  =============================  =========================

For ``du = 1`` layers the bias goes into the Affine bias (exact, and readers that
start the voltage at ``v_leak``, such as norse, then start at 0 like us); for
CubaLIF/CubaLI it is ``v_leak = bias / dv``. The parameter formulas are in
:mod:`.convention` and ``docs/nir-conventions.md``. The exporter is pure: it
copies every array and never changes the spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import nir
import numpy as np

from .. import __version__
from ..atomic import atomic_path
from ..errors import ConfigError, ConversionError
from ..hashing import array_digest
from ..netspec import LayerSpec, NetworkSpec
from . import load, metadata_codec
from .conv_form import conv_form
from .convention import (CONVENTION, DIGEST_FIELDS, DISCRETISATION, INPUT_GAINS, KEY_CONFIG, KEY_CONVENTION,
                         KEY_DISCRETISATION, KEY_DT, KEY_INPUT_GAIN, KEY_LAYERS, KEY_QUANTIZATION, KEY_QUANTIZED_FROM,
                         KEY_PROFILE, KEY_READOUT, KEY_SPEC_METADATA, KEY_WRITER, NODE_KEY_LAYER, NODE_KEY_ROLE,
                         ROLE_DELAY, ROLE_NEURON, ROLE_RECURRENT, ROLE_SYNAPSE, ROLE_TAP, tau_from_decay)

INPUT_NODE = "input"
OUTPUT_NODE = "output"


def node_names(layer_name: str) -> dict[str, str]:
    """The node names of one layer, by role."""
    return {ROLE_SYNAPSE: f"{layer_name}.synapse", ROLE_NEURON: f"{layer_name}.neuron",
            ROLE_RECURRENT: f"{layer_name}.recurrent"}


def _check_finite(layer: LayerSpec) -> None:
    # LayerSpec validates on construction, but its arrays stay mutable numpy arrays.
    for field in ("weight", "du", "dv", "vth", "bias", "rec_weight"):
        arr = getattr(layer, field)
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ConfigError(f"layer {layer.name!r} field {field}", "contains NaN or inf",
                              remedy="retrain or repair the model; non-finite parameters cannot be exported")


def _neurons(where: np.ndarray) -> str:
    idx = np.flatnonzero(where)
    shown = ", ".join(str(i) for i in idx[:8]) + (", ..." if idx.size > 8 else "")
    return f"neurons [{shown}] ({idx.size} of {where.size})"


def _layer_nodes(layer: LayerSpec, dt: float, input_gain: str) -> dict[str, nir.NIRNode]:
    """The NIR nodes of one layer, by role (see the module docstring)."""
    _check_finite(layer)
    du = layer.du.astype(np.float64)
    dv = layer.dv.astype(np.float64)
    bias = layer.bias.astype(np.float64)
    weight = np.array(layer.weight, dtype=np.float32, copy=True)
    rec = None if layer.rec_weight is None else np.array(layer.rec_weight, dtype=np.float32, copy=True)
    n = layer.n_out
    if np.any(du == 0):
        raise ConversionError(layer.name, "layer", f"du = 0 for {_neurons(du == 0)}: a current that never "
                              "decays has no forward-Euler NIR form (w_in = 1/du would be infinite)",
                              remedy="use a small positive du (Loihi's smallest is 1/4096)")
    if np.any(dv == 0) and not np.all(dv == 0):
        raise ConversionError(layer.name, "layer", f"dv = 0 for {_neurons(dv == 0)} but not for the others: "
                              "one NIR node cannot mix integrators (IF/I) and leaky neurons (LIF/CubaLIF)",
                              remedy="give those neurons a small positive dv (e.g. 1/4096) or split the layer")
    if rec is not None and not layer.spiking:
        raise ConversionError(layer.name, "layer", "a non-spiking layer has a recurrent weight; "
                              "the recurrence reads spikes, which this layer does not emit",
                              remedy="drop rec_weight from the non-spiking layer")
    all_du1 = bool(np.all(du == 1))
    integrator = bool(np.all(dv == 0))
    if integrator and not all_du1:
        raise ConversionError(layer.name, "layer", f"dv = 0 with du < 1 for {_neurons(du < 1)}: a "
                              "current-based integrator has no forward-Euler NIR form (r = 1/dv is infinite)",
                              remedy="give the layer a small positive dv (e.g. 1/4096) or use du = 1")
    vth = None if layer.vth is None else layer.vth.astype(np.float64)
    zeros = np.zeros(n, dtype=np.float64)
    meta = {NODE_KEY_LAYER: layer.name, NODE_KEY_ROLE: ROLE_NEURON}
    # Input scale g to put into the synapse ("synapse" gain) or the neuron (w_in, r).
    if integrator:
        # IF / I: v' = r I  ->  v_t = v_{t-1} + dt r x_t ; r = 1/dt in both forms.
        syn_w, syn_b, rec_w = weight, layer.bias.astype(np.float32, copy=True), rec
        r = np.full(n, 1.0 / dt)
        neuron = (nir.IF(r=r, v_threshold=vth, v_reset=zeros.copy(), metadata=meta) if layer.spiking
                  else nir.I(r=r, metadata=meta))
    elif all_du1:
        tau = tau_from_decay(dv, dt)
        if input_gain == "neuron":
            syn_w, syn_b, rec_w, r = weight, layer.bias.astype(np.float32, copy=True), rec, 1.0 / dv
        else:
            syn_w = weight.astype(np.float64) / dv[:, None]
            syn_b, r = bias / dv, np.ones(n)
            rec_w = None if rec is None else rec.astype(np.float64) / dv[:, None]
        neuron = (nir.LIF(tau=tau, r=r, v_leak=zeros.copy(), v_threshold=vth, v_reset=zeros.copy(),
                          metadata=meta) if layer.spiking
                  else nir.LI(tau=tau, r=r, v_leak=zeros.copy(), metadata=meta))
    else:
        tau_syn, tau_mem, v_leak = tau_from_decay(du, dt), tau_from_decay(dv, dt), bias / dv
        if input_gain == "neuron":
            syn_w, rec_w, r, w_in = weight, rec, 1.0 / dv, 1.0 / du
        else:
            g = (du * dv)[:, None]
            syn_w, r, w_in = weight.astype(np.float64) / g, np.ones(n), np.ones(n)
            rec_w = None if rec is None else rec.astype(np.float64) / g
        syn_b = np.zeros(n, dtype=syn_w.dtype)
        neuron = (nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, v_threshold=vth,
                              v_reset=zeros.copy(), w_in=w_in, metadata=meta) if layer.spiking
                  else nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, w_in=w_in,
                                  metadata=meta))
    for name, arr in (("weight", syn_w), ("bias", syn_b), ("rec_weight", rec_w)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ConversionError(layer.name, "layer", f"{name} / (du dv) overflows (decays too small)",
                                  remedy="export with input_gain='neuron'")
    nodes = {ROLE_SYNAPSE: nir.Affine(weight=syn_w, bias=syn_b,
                                      metadata={NODE_KEY_LAYER: layer.name, NODE_KEY_ROLE: ROLE_SYNAPSE}),
             ROLE_NEURON: neuron}
    if rec_w is not None:
        nodes[ROLE_RECURRENT] = nir.Linear(weight=rec_w, metadata={NODE_KEY_LAYER: layer.name,
                                                                    NODE_KEY_ROLE: ROLE_RECURRENT})
    return nodes


def _tap_nodes(layer: LayerSpec, written: dict[str, nir.NIRNode], dt: float) -> dict[str, nir.NIRNode]:
    """A delayed layer's taps: the synapse keeps the first tap's columns (and the bias); a Delay
    node (``d dt`` seconds) per non-zero delay, a Linear per later tap. Changes ``written``."""
    if not layer.delayed:
        return {}
    syn = written[ROLE_SYNAPSE]
    n = layer.n_in
    blocks = [syn.weight[:, k * n:(k + 1) * n] for k in range(len(layer.delays))]
    meta = lambda role: {NODE_KEY_LAYER: layer.name, NODE_KEY_ROLE: role}  # noqa: E731
    written[ROLE_SYNAPSE] = nir.Affine(weight=np.ascontiguousarray(blocks[0]), bias=syn.bias,
                                       metadata=meta(ROLE_SYNAPSE))
    out: dict[str, nir.NIRNode] = {}
    for d, block in zip(layer.delays, blocks):
        if d:
            out[f"{layer.name}.{ROLE_DELAY}{d}"] = nir.Delay(delay=np.full(n, d * dt), metadata=meta(ROLE_DELAY))
        if d != layer.delays[0]:
            out[f"{layer.name}.{ROLE_TAP}{d}"] = nir.Linear(weight=np.ascontiguousarray(block), metadata=meta(ROLE_TAP))
    return out


def _tap_edges(layer: LayerSpec, source: str, names: dict[str, str]) -> list[tuple[str, str]]:
    """``source`` into the synapse (through the first tap's Delay) and into each later tap."""
    first = layer.delays[0]
    into_synapse = ([(source, f"{layer.name}.{ROLE_DELAY}{first}"),
                     (f"{layer.name}.{ROLE_DELAY}{first}", names[ROLE_SYNAPSE])] if first
                    else [(source, names[ROLE_SYNAPSE])])
    edges = into_synapse
    for d in layer.delays[1:]:
        delay, tap = f"{layer.name}.{ROLE_DELAY}{d}", f"{layer.name}.{ROLE_TAP}{d}"
        edges += [(source, delay), (delay, tap), (tap, names[ROLE_NEURON])]
    return edges


def float_digests(spec: NetworkSpec) -> dict[str, dict[str, str]]:
    """{layer: {field: digest}} of the float parameters (:data:`~.convention.DIGEST_FIELDS`)."""
    return {layer.name: {f: array_digest(getattr(layer, f)) for f in DIGEST_FIELDS if getattr(layer, f) is not None}
            for layer in spec.layers}


def _plain_quantization(loihi: Any) -> dict[str, Any]:
    if hasattr(loihi, "to_dict"):
        d = loihi.to_dict()
    elif isinstance(loihi, Mapping):
        d = dict(loihi)
    else:
        raise ConfigError("loihi", f"expected a LoihiNetwork or its plain dict, got {type(loihi).__name__}")
    if not isinstance(d, Mapping):
        raise ConfigError("loihi", "to_dict() must return a dict")
    return dict(d)


def spec_to_nir(spec: NetworkSpec, *, loihi: Any = None, config: Mapping[str, Any] | None = None,
                input_gain: str = "neuron", param_dt: float | None = None, readout_neuron: bool = True,
                profile: str = "nir", conv_nodes: bool = False) -> nir.NIRGraph:
    """The NIR graph of ``spec`` (type-checked by nir), with our metadata.

    Args:
        spec: the float network.
        loihi: optional quantised network (a ``LoihiNetwork`` or its ``to_dict()``
            plain dict); stored under ``KEY_QUANTIZATION`` bit for bit.
        config: optional model/data configuration (plain dict), stored under ``KEY_CONFIG``.
        input_gain: "neuron" (default: ``w_in = 1/du``, ``r = 1/dv``, Affine weights
            as trained) or "synapse" (``w_in = r = 1``, the Affine weights divided by
            ``du * dv``; for readers that ignore ``r``, such as norse).
        param_dt, readout_neuron, profile: for another tool's importer (:mod:`.profiles`): the
            step the time constants are written for (default the spec's), whether the readout
            neuron is written (else the graph ends at its synapse), the consumer's name (a graph
            for another consumer carries ``KEY_PROFILE`` instead of ``KEY_CONVENTION``).
        conv_nodes: write the spec's convolutional layers as NIR Conv1d nodes (:mod:`.conv_form`).

    Raises:
        ConversionError: a layer has no NIR form (see the module docstring), naming it.
        ConfigError: non-finite parameters (naming the layer) or unstorable metadata.
    """
    if not isinstance(spec, NetworkSpec):
        raise ConfigError("spec", f"expected a NetworkSpec, got {type(spec).__name__}")
    if input_gain not in INPUT_GAINS:
        raise ConfigError("input_gain", f"unknown input gain {input_gain!r}", valid=INPUT_GAINS)
    dt = float(spec.dt)
    nodes: dict[str, nir.NIRNode] = {INPUT_NODE: nir.Input(input_type=np.array([spec.input_size]))}
    edges: list[tuple[str, str]] = []
    prev = INPUT_NODE
    for k, layer in enumerate(spec.layers):
        names = node_names(layer.name)
        last = k == len(spec.layers) - 1
        # without its neuron the readout's synapse is written as trained: nothing follows to undo a gain
        written = _layer_nodes(layer, dt if param_dt is None else float(param_dt),
                               "neuron" if last and not readout_neuron else input_gain)
        if last and not readout_neuron:
            written = {ROLE_SYNAPSE: written[ROLE_SYNAPSE]}
        taps = _tap_nodes(layer, written, dt)      # none without delays
        for role, node in written.items():
            if names[role] in nodes:
                raise ConfigError("layers", f"node name {names[role]!r} is used twice",
                                  remedy="rename the layer")
            nodes[names[role]] = node
        nodes.update(taps)
        edges += _tap_edges(layer, prev, names)
        prev = names[ROLE_SYNAPSE]
        if ROLE_NEURON in written:
            edges.append((names[ROLE_SYNAPSE], names[ROLE_NEURON]))
            prev = names[ROLE_NEURON]
        if names[ROLE_RECURRENT] in nodes:
            edges += [(names[ROLE_NEURON], names[ROLE_RECURRENT]), (names[ROLE_RECURRENT], names[ROLE_NEURON])]
    nodes[OUTPUT_NODE] = nir.Output(output_type=np.array([spec.output_size]))
    edges.append((prev, OUTPUT_NODE))
    meta: dict[str, Any] = {
        **({KEY_CONVENTION: CONVENTION} if profile == "nir" else {KEY_PROFILE: profile}),
        KEY_DISCRETISATION: DISCRETISATION, KEY_DT: dt,
        KEY_READOUT: spec.readout, KEY_INPUT_GAIN: input_gain,
        KEY_LAYERS: [layer.name for layer in spec.layers],
        KEY_SPEC_METADATA: dict(spec.metadata), KEY_WRITER: f"spikedeploy {__version__}",
    }
    if config is not None:
        meta[KEY_CONFIG] = dict(config)
    if loihi is not None:
        meta[KEY_QUANTIZATION] = _plain_quantization(loihi)
        meta[KEY_QUANTIZED_FROM] = float_digests(spec)
    if conv_nodes:
        nodes, edges = conv_form(nodes, edges, spec, INPUT_NODE)
    for node in nodes.values():
        node.metadata = metadata_codec.encode(node.metadata, "node metadata")
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata_codec.encode(meta), type_check=True)


def write_nir(path: str | Path, spec: NetworkSpec, *, loihi: Any = None,
              config: Mapping[str, Any] | None = None, input_gain: str = "neuron",
              verify: bool = True, prepared: Any = None, profile: str = "nir", conv_nodes: bool = False) -> Path:
    """Write ``spec`` as a NIR file (HDF5, ``nir.write``) atomically; return the path.

    The graph is built (and every check done) before a file is created. With
    ``verify`` (default) the written file is read back with ``nir.read`` (type
    checked) and :func:`~spikedeploy.nir_io.load.nir_to_spec`, and must give the
    same float32 arrays bit for bit, the same readout, dt and metadata; otherwise
    nothing is written and ConversionError names the first differing layer.

    ``prepared`` (a :class:`~.profiles.Prepared` for the consumer ``profile``, e.g. snntorch)
    writes the graph that consumer reads; it is verified by ``nir.read`` with nir's type check
    (our readers do not run graphs for other consumers), and refuses Loihi integers (they
    describe our form).
    """
    if prepared is not None and profile != "nir":
        if loihi is not None:
            raise ConfigError("profile", f"a graph for {profile} carries no Loihi integers",
                              remedy="export without --quantized, or for nir")
        graph = spec_to_nir(prepared.spec, config=config, input_gain=prepared.input_gain,
                            param_dt=prepared.param_dt, readout_neuron=prepared.readout_neuron, profile=profile)
        with atomic_path(path) as tmp:
            nir.write(tmp, graph)
            load.read_nir(tmp, type_check=True)
        return Path(path)
    graph = spec_to_nir(spec, loihi=loihi, config=config, input_gain=input_gain, conv_nodes=conv_nodes)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
        if verify:
            check_same_spec(spec, load.nir_to_spec(load.read_nir(tmp)))
    return Path(path)


def check_same_spec(expected: NetworkSpec, got: NetworkSpec) -> None:
    """Raise ConversionError unless ``got`` equals ``expected`` bit for bit (arrays, names, dt, readout, metadata)."""
    if (expected.input_size, expected.readout, expected.dt) != (got.input_size, got.readout, got.dt):
        raise ConversionError("graph", "NIRGraph", "re-import differs in input_size/readout/dt: "
                              f"{(expected.input_size, expected.readout, expected.dt)} vs "
                              f"{(got.input_size, got.readout, got.dt)}", remedy="report this as a bug")
    if len(expected.layers) != len(got.layers):
        raise ConversionError("graph", "NIRGraph", f"re-import has {len(got.layers)} layers, "
                              f"expected {len(expected.layers)}", remedy="report this as a bug")
    for a, b in zip(expected.layers, got.layers):
        if a.name != b.name:
            raise ConversionError(a.name, "layer", f"re-imported as {b.name!r}", remedy="report this as a bug")
        if a.delays != b.delays:
            raise ConversionError(a.name, "layer", f"delays {list(a.delays)} re-imported as {list(b.delays)}",
                                  remedy="report this as a bug")
        for field in ("weight", "du", "dv", "vth", "bias", "rec_weight"):
            x, y = getattr(a, field), getattr(b, field)
            # Equal values (so -0.0 == 0.0); float32 arrays, never NaN (NetworkSpec refuses NaN).
            same = (x is None and y is None) or (x is not None and y is not None and x.shape == y.shape
                                                 and x.dtype == y.dtype and np.array_equal(x, y))
            if not same:
                raise ConversionError(a.name, "layer", f"field {field} differs after the NIR round trip",
                                      remedy="report this as a bug")
    if not _same_metadata(dict(expected.metadata), dict(got.metadata)):
        raise ConversionError("graph", "NIRGraph", "spec metadata differs after the NIR round trip",
                              remedy="store only dicts, lists, numbers, strings, None and numpy arrays")


def _same_metadata(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same_metadata(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_metadata(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # both NaN
    return type(a) is type(b) and a == b
