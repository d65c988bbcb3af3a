"""A network's Lava parameters -> a graph of Lava's own processes, replicated side by side.

For each layer and each of its decay groups (neurons sharing du, dv, vth; Lava
holds one per LIF process) the builder makes:

* a ``LIFReset`` process (reset every ``R`` steps at an offset that follows the
  layer's depth, see :class:`~spikedeploy.quant.emulator.StreamLayout`);
* feed-forward connections (``Dense``, or ``Sparse`` for replicated graphs): one
  per (source port, group) pair that has any synapse, holding the rows of the
  layer's weights that feed this group and the columns the source port carries;
* if the layer is recurrent, the same with ``rec_weight``, fed by the spike
  ports of the layer's own groups;
* a layer with delayed taps (``spikedeploy.delays``) gets the feed-forward
  connections once per tap, ``DelayDense`` / ``DelaySparse`` with the tap's delay
  on every synapse (``Dense`` / ``Sparse`` for delay 0): a convolution's time taps
  join the same pair of neurons at several delays, one delay per synapse allows one.

A source port is the RingBuffer's output (all input channels) or one group's
``s_out`` (that group's neurons). Lava 0.10's compiler does not support
``concat_with`` ports, hence one connection per pair; their outputs add up at
the LIF's ``a_in`` exactly as the rows of one big matrix would (each connection
applies ``weight_exp`` to its own partial sum; with a negative exponent the floor
of a sum of parts can differ from the floor of the whole, so such layers are
built, and emulated, per part -- see ``docs/fixed-point.md``).
The input is a ``RingBuffer`` source (``lava.proc.io.source``): binary spikes, or graded
payloads (``input_bits`` > 0, Loihi 2) that the first layer's connections multiply
(``num_message_bits``).

Replication (``replicas = B``): B copies of the network side by side in the same
processes, block-diagonal weights, so B independent streams advance per Lava
step (as one would spread copies over a chip's cores). Lava's Python simulation
costs a roughly fixed time per step and process, so this is how throughput is
bought. Block-diagonal Dense matrices grow as B^2, so larger replicated graphs use
Lava's ``Sparse`` connection (same bit-accurate arithmetic as ``Dense``:
``PySparseModelBitAcc`` applies the same clipping, truncation and ``weight_exp``).

One builder for both Lava configurations: it takes a :class:`~.adapters.LavaNetwork`,
the parameters exactly as Lava's processes take them, which the adapters make from an
integer network (``fixed_pt``, or ``floating_pt`` on the integers) or a float spec
(``floating_pt``): :mod:`.adapters`.

``decays="per-neuron"`` (simulation only) puts each layer in ONE LIF process with
per-neuron ``du``, ``dv``, ``vth`` arrays: Lava's Python models compute it
element-wise (bit-exact, tested), but Lava declares these as one value per process
and Loihi holds a few neuron profiles per core, so it is not a deployable graph. It
keeps a layer with many distinct decays (a trained model: one group per neuron)
from needing one connection process per pair of groups.
Lava is imported here only inside functions (the package imports without it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import sparse as sp

from ..errors import ConfigError, ShapeMismatchError
from ..quant.emulator import StreamLayout
from ..quant.loihi_network import DecayGroup
from . import require_lava
from .adapters import CONFIGS, LavaLayer, LavaNetwork, per_neuron_problem

#: Connection processes: ``dense`` (lava.proc.dense Dense), ``sparse`` (lava.proc.sparse
#: Sparse), ``auto`` (Dense up to DENSE_MAX_REPLICAS copies, Sparse above).
CONNECTIONS = ("auto", "dense", "sparse")
#: How a layer's neurons become LIF processes: one per decay group (Lava's contract), or
#: one per layer with per-neuron du/dv/vth arrays (simulation only, see the module docstring).
DECAY_MODES = ("groups", "per-neuron")
#: Dense's block-diagonal matrix costs B^2 per step; measured on the 700-128-20 benchmark
#: network (2-core machine), Dense wins up to about 8 copies, Sparse from 16 on.
DENSE_MAX_REPLICAS = 8


def _block_rows(weight: np.ndarray, rows: np.ndarray, col_pos: np.ndarray, n_cols: int,
                replicas: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """COO entries of the replicated matrix feeding one group: rows b*m + r, cols col_pos[b, j]."""
    sub = weight[rows]                       # [m, n_in]
    r_idx, c_idx = np.nonzero(sub)
    vals = sub[r_idx, c_idx]
    m = rows.size
    b = np.arange(replicas)[:, None]
    rr = (b * m + r_idx[None, :]).ravel()
    cc = col_pos[:, c_idx].ravel()           # [B, nnz] -> flat, replica-major like rr
    vv = np.broadcast_to(vals, (replicas, vals.size)).ravel()
    return rr, cc, vv, (replicas * m, n_cols)


@dataclass
class LavaGraph:
    """The built processes and what is needed to read their recordings back."""

    net: LavaNetwork
    layout: StreamLayout
    replicas: int
    config: str
    connection: str
    source: Any
    lifs: dict[str, list[Any]] = field(default_factory=dict)
    groups: dict[str, tuple[DecayGroup, ...]] = field(default_factory=dict)
    spike_files: dict[str, list[Path]] = field(default_factory=dict)
    voltage_files: dict[str, list[Path]] = field(default_factory=dict)
    current_files: dict[str, list[Path]] = field(default_factory=dict)
    processes: list[Any] = field(default_factory=list)

    @property
    def anchor(self) -> Any:
        """A process to call ``run``/``stop`` on (any process of the connected graph)."""
        return self.source

    @property
    def fixed(self) -> bool:
        return self.config == "fixed_pt"


def build_graph(net: LavaNetwork, stream: np.ndarray, layout: StreamLayout, workdir: str | Path, *,
                connection: str = "auto", record_voltage: str | Sequence[str] = "readout",
                record_current: str | Sequence[str] = "none", decays: str = "groups") -> LavaGraph:
    """Build Lava processes playing ``stream`` ([replicas, S, in], 0/1) through ``net`` (in
    ``net.config``).

    ``record_voltage`` / ``record_current`` (v / u): ``"readout"`` (the last layer),
    ``"all"``, ``"none"`` or a list of layer names. Spikes of every layer are recorded. Recordings are written into
    ``workdir`` at the run's last step. ``decays``: one of :data:`DECAY_MODES`.
    """
    require_lava()
    from lava.proc.io.source import RingBuffer  # lazy: Lava is imported only in the Lava backend

    _check_build(net, stream, layout, connection, decays)
    replicas = stream.shape[0]
    if connection == "auto":
        connection = "dense" if replicas <= DENSE_MAX_REPLICAS else "sparse"
    recorded = {"voltage": _recorded_layers(net, record_voltage), "current": _recorded_layers(net, record_current)}
    data = stream.transpose(0, 2, 1).reshape(replicas * net.input_size, layout.total_steps)
    source = RingBuffer(data=data.astype(np.int32 if net.config == "fixed_pt" else np.float64))
    graph = LavaGraph(net=net, layout=layout, replicas=replicas, config=net.config, connection=connection,
                      source=source)
    graph.processes.append(source)
    # Each "port" is (OutPort, the layer's neuron indices it carries, pos[b, r] in the port).
    prev_ports = [(source.s_out, np.arange(net.input_size),
                   np.arange(replicas)[:, None] * net.input_size + np.arange(net.input_size)[None, :])]
    for depth, layer in enumerate(net.layers, start=1):
        groups = (layer.whole_layer(),) if decays == "per-neuron" else layer.decay_groups()
        lifs = [_lif_process(graph, layer, g, depth) for g in groups]
        own_ports = [(lif.s_out, g.neurons, _local_positions(replicas, g.size)) for g, lif in zip(groups, lifs)]
        bits = net.input_bits if depth == 1 else 0           # graded input payloads into the first layer
        links = [(weight, delay, layer.weight_exp, layer.sign_mode, prev_ports, bits)
                 for delay, weight in layer.taps()]
        if layer.recurrent:
            links.append((layer.rec_weight, 0, layer.rec_exp, layer.rec_sign_mode, own_ports, 0))
        for weight, delay, exp, mode, ports, bits in links:
            _connect(graph, layer, (weight, delay, bits), exp, mode, ports, groups, lifs)
        _record(graph, layer, depth, groups, lifs, Path(workdir), recorded)
        graph.lifs[layer.name] = lifs
        graph.groups[layer.name] = groups
        prev_ports = own_ports
    return graph


def _check_build(net: LavaNetwork, stream: np.ndarray, layout: StreamLayout, connection: str, decays: str) -> None:
    if net.config not in CONFIGS:
        raise ConfigError("config", f"unknown Lava configuration {net.config!r}", valid=CONFIGS)
    if connection not in CONNECTIONS:
        raise ConfigError("connection", f"unknown connection kind {connection!r}", valid=CONNECTIONS)
    if decays not in DECAY_MODES:
        raise ConfigError("decays", f"unknown decay mode {decays!r}", valid=DECAY_MODES)
    if decays == "per-neuron":
        problem = per_neuron_problem(net)
        if problem is not None:
            raise ConfigError("decays", problem, remedy='use decays="groups"')
    if stream.ndim != 3 or stream.shape[1:] != (layout.total_steps, net.input_size):
        raise ShapeMismatchError("Lava input stream", f"[replicas, {layout.total_steps}, {net.input_size}]",
                                 stream.shape)
    if layout.depth != net.latency:
        raise ShapeMismatchError("stream layout depth", net.latency, layout.depth)


def _lif_process(graph: LavaGraph, layer: LavaLayer, g: DecayGroup, depth: int) -> Any:
    """One ``LIFReset`` process for the group's neurons in every replica."""
    from lava.proc.lif.process import LIFReset  # lazy: Lava is imported only in the Lava backend

    replicas, m = graph.replicas, g.size
    per_neuron = np.ndim(g.du) > 0
    bias = np.broadcast_to(layer.bias[g.neurons], (replicas, m)).ravel()
    if graph.fixed:
        du, dv, vth = ((np.tile(np.asarray(a, dtype=np.int64), replicas) for a in (g.du, g.dv, g.vth))
                       if per_neuron else (g.du, g.dv, g.vth))
        bias, bias_exp = bias.astype(np.int32), int(layer.bias_exp)
    else:
        du, dv, vth = ((np.tile(np.asarray(a, dtype=np.float64), replicas) for a in (g.du, g.dv, g.vth))
                       if per_neuron else (float(g.du), float(g.dv), float(g.vth)))
        bias, bias_exp = bias.astype(np.float64), 0
    lif = LIFReset(shape=(replicas * m,), du=du, dv=dv, vth=vth, bias_mant=bias, bias_exp=bias_exp,
                   reset_interval=graph.layout.reset_interval, reset_offset=graph.layout.reset_offset(depth))
    graph.processes.append(lif)
    return lif


def _connect(graph: LavaGraph, layer: LavaLayer, link: tuple[np.ndarray, int, int], exp: int, mode: str,
             ports: list, groups: Sequence[DecayGroup], lifs: Sequence[Any]) -> None:
    """One connection process per (source port, group) pair that has any synapse. ``link`` is
    (weight, delay, message bits): delay > 0 a delayed connection (every synapse of a tap delayed
    alike), message bits > 0 graded input payloads."""
    weight, delay, bits = link
    for g, lif in zip(groups, lifs):
        for port, cols, pos in ports:
            block = weight[:, cols]
            if not np.any(block[g.neurons]):
                continue          # no synapse from this port to this group: no process
            conn = _connection_process(graph, block, g.neurons, pos, exp, mode, layer.num_weight_bits, delay, bits)
            port.connect(conn.s_in)
            conn.a_out.connect(lif.a_in)


def _connection_process(graph: LavaGraph, weight: np.ndarray, rows: np.ndarray, col_pos: np.ndarray, exp: int,
                        mode: str, num_weight_bits: int, delay: int = 0, message_bits: int = 0) -> Any:
    """A Dense or Sparse process with the replicated block-diagonal matrix of ``weight[rows]``
    (``DelayDense`` / ``DelaySparse`` with every synapse delayed by ``delay`` when it is > 0)."""
    from lava.proc.dense.process import Dense, DelayDense  # lazy: Lava is imported only in the Lava backend
    from lava.proc.sparse.process import DelaySparse, Sparse
    from lava.utils.weightutils import SignMode

    rr, cc, vv, shape = _block_rows(weight, rows, col_pos, col_pos.size, graph.replicas)
    if graph.fixed:
        vv = vv.astype(np.int32)
        modes = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}
        kw = dict(weight_exp=int(exp), num_weight_bits=int(num_weight_bits), sign_mode=modes[mode])
    else:
        vv = vv.astype(np.float64)
        kw = {}
    if message_bits:
        kw["num_message_bits"] = int(message_bits)
    if graph.connection == "sparse":
        mat = sp.csr_matrix((vv, (rr, cc)), shape=shape)
        proc = DelaySparse(weights=mat, delays=_delays_like(mat, delay), **kw) if delay else Sparse(weights=mat, **kw)
    else:
        mat = np.zeros(shape, dtype=vv.dtype)
        mat[rr, cc] = vv
        proc = DelayDense(weights=mat, delays=int(delay), **kw) if delay else Dense(weights=mat, **kw)
    graph.processes.append(proc)
    return proc


def _delays_like(mat: sp.csr_matrix, delay: int) -> sp.csr_matrix:
    """DelaySparse's delay matrix: ``delay`` at every stored synapse of ``mat``."""
    out = mat.copy()
    out.data = np.full(out.data.shape, int(delay), dtype=int)
    return out


def _record(graph: LavaGraph, layer: LavaLayer, depth: int, groups: Sequence[DecayGroup], lifs: Sequence[Any],
            workdir: Path, recorded: dict[str, tuple[str, ...]]) -> None:
    """Recorders for every group's spikes, and its v / u where the layer is recorded."""
    from .procs.recorders import SpikeRecorder, VarRecorder  # lazy: Lava processes

    S = graph.layout.total_steps
    spike_paths, volt_paths, curr_paths = [], [], []
    for gi, (g, lif) in enumerate(zip(groups, lifs)):
        spath = workdir / f"spikes_{depth}_{gi}.npy"
        recorder = SpikeRecorder(shape=(graph.replicas * g.size,), num_steps=S, path=str(spath))
        lif.s_out.connect(recorder.a_in)
        graph.processes.append(recorder)
        spike_paths.append(spath)
        for kind, var, paths in (("voltage", lif.v, volt_paths), ("current", lif.u, curr_paths)):
            if layer.name in recorded[kind]:
                path = workdir / f"{kind}_{depth}_{gi}.npy"
                graph.processes.append(VarRecorder(var=var, num_steps=S, path=str(path)))
                paths.append(path)
    graph.spike_files[layer.name] = spike_paths
    if volt_paths:
        graph.voltage_files[layer.name] = volt_paths
    if curr_paths:
        graph.current_files[layer.name] = curr_paths


def _local_positions(replicas: int, m: int) -> np.ndarray:
    """pos[b, r] = b * m + r: neuron r of replica b in a group process of replicas * m neurons."""
    return np.arange(replicas)[:, None] * m + np.arange(m)[None, :]


def _recorded_layers(net: LavaNetwork, record: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(record, str):
        choices = {"readout": (net.layer_names[-1],), "all": net.layer_names, "none": ()}
        if record in choices:
            return choices[record]
        record = [record]
    names = tuple(record)
    for n in names:
        net.layer(n)  # ConfigError listing the layers
    return names
