"""LoihiNetwork -> a graph of Lava's own processes, replicated side by side.

For each layer and each of its decay groups (neurons sharing du, dv, vth; Lava
holds one per LIF process) the builder makes:

* a ``LIFReset`` process (reset every ``R`` steps at an offset that follows the
  layer's depth, see :class:`~spikedeploy.quant.emulator.StreamLayout`);
* feed-forward connections (``Dense``, or ``Sparse`` for replicated graphs): one
  per (source port, group) pair that has any synapse, holding the rows of the
  layer's weights that feed this group and the columns the source port carries;
* if the layer is recurrent, the same with ``rec_weight``, fed by the spike
  ports of the layer's own groups.

A source port is the RingBuffer's output (all input channels) or one group's
``s_out`` (that group's neurons). Lava 0.10's compiler does not support
``concat_with`` ports, hence one connection per pair; their outputs add up at
the LIF's ``a_in`` exactly as the rows of one big matrix would (each connection
applies ``weight_exp`` to its own partial sum; with a negative exponent the floor
of a sum of parts can differ from the floor of the whole, so such layers are
built, and emulated, per part -- see ``docs/fixed-point.md``).
The input is a ``RingBuffer`` source (``lava.proc.io.source``).

Replication (``replicas = B``): B copies of the network side by side in the same
processes, block-diagonal weights, so B independent streams advance per Lava
step (as one would spread copies over a chip's cores). Lava's Python simulation
costs a roughly fixed time per step and process, so this is how throughput is
bought. Block-diagonal Dense matrices grow as B^2, so larger replicated graphs use
Lava's ``Sparse`` connection (same bit-accurate arithmetic as ``Dense``:
``PySparseModelBitAcc`` applies the same clipping, truncation and ``weight_exp``).

Both Lava configurations are built: ``fixed_pt`` (bit-accurate, integer
parameters as they are) and ``floating_pt`` (:func:`float_parameters`).

``decays="per-neuron"`` (simulation only) puts each layer in ONE LIF process with
per-neuron ``du``, ``dv``, ``vth`` arrays: Lava's Python models compute it
element-wise (bit-exact, tested), but Lava declares these as one value per process
and Loihi holds a few neuron profiles per core, so it is not a deployable graph. It
keeps a layer with many distinct decays (a trained model: one group per neuron)
from needing one connection process per pair of groups.
Lava is imported here only inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, ShapeMismatchError
from ..quant.emulator import StreamLayout
from ..quant.loihi_network import DecayGroup, LoihiLayer, LoihiNetwork
from . import require_lava

#: Lava run configurations (``Loihi2SimCfg(select_tag=...)``).
CONFIGS = ("fixed_pt", "floating_pt")
#: Connection processes: ``dense`` (lava.proc.dense Dense), ``sparse`` (lava.proc.sparse
#: Sparse), ``auto`` (Dense up to DENSE_MAX_REPLICAS copies, Sparse above).
CONNECTIONS = ("auto", "dense", "sparse")
#: How a layer's neurons become LIF processes: one per decay group (Lava's contract), or
#: one per layer with per-neuron du/dv/vth arrays (simulation only, see the module docstring).
DECAY_MODES = ("groups", "per-neuron")
#: Dense's block-diagonal matrix costs B^2 per step; measured on the 700-128-20 benchmark
#: network (2-core machine), Dense wins up to about 8 copies, Sparse from 16 on.
DENSE_MAX_REPLICAS = 8


def float_parameters(layer: LoihiLayer, spec=None) -> dict[str, Any]:
    """The layer's parameters for Lava's floating-point models, in units where
    ``v_float * 64 = v_int`` (``u`` likewise; 64 = 2^activation_shift = 2^threshold_shift).

    Lava's float Dense ignores ``weight_exp`` and its float LIF computes
    ``u = u (1 - du) + a_in; v = v (1 - dv) + u + bias_mant; s = v > vth``, so:
    ``weight = w * 2^weight_exp``, ``du = (du_int + 1) / 4096``, ``dv = dv_int / 4096``,
    ``bias_mant = bias_mant_int * 2^bias_exp / 64``, ``vth = vth_int``.
    """
    from ..quant.fixed_point import default_spec
    spec = spec or default_spec()
    unit = float(spec.decay_unity)
    scale = float(1 << spec.activation_shift)
    out = {
        "weight": layer.weight.astype(np.float64) * 2.0 ** layer.weight_exp,
        "rec_weight": None if layer.rec_weight is None else
        layer.rec_weight.astype(np.float64) * 2.0 ** layer.rec_exp,
        "du": (layer.du.astype(np.float64) + spec.current_decay_offset) / unit,
        "dv": (layer.dv.astype(np.float64) + spec.voltage_decay_offset) / unit,
        "vth": layer.vth.astype(np.float64),     # (vth << 6) / 64
        "bias": layer.bias_mant.astype(np.float64) * 2.0 ** layer.bias_exp / scale,
    }
    return out


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

    net: LoihiNetwork
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


def build_graph(net: LoihiNetwork, stream: np.ndarray, layout: StreamLayout, workdir: str | Path, *,
                config: str = "fixed_pt", connection: str = "auto",
                record_voltage: str | Sequence[str] = "readout",
                record_current: str | Sequence[str] = "none", decays: str = "groups") -> LavaGraph:
    """Build Lava processes playing ``stream`` ([replicas, S, in], 0/1) through ``net``.

    ``record_voltage`` / ``record_current`` (v / u): ``"readout"`` (the last layer),
    ``"all"``, ``"none"`` or a list of layer names. Spikes of every layer are recorded. Recordings are written into
    ``workdir`` at the run's last step. ``decays``: one of :data:`DECAY_MODES`.
    """
    require_lava()
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIFReset
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode
    from scipy import sparse as sp

    from .procs.recorders import SpikeRecorder, VarRecorder

    if config not in CONFIGS:
        raise ConfigError("config", f"unknown Lava configuration {config!r}", valid=CONFIGS)
    if connection not in CONNECTIONS:
        raise ConfigError("connection", f"unknown connection kind {connection!r}", valid=CONNECTIONS)
    if decays not in DECAY_MODES:
        raise ConfigError("decays", f"unknown decay mode {decays!r}", valid=DECAY_MODES)
    per_neuron = decays == "per-neuron"
    if per_neuron:
        _check_per_neuron(net)
    stream = np.asarray(stream)
    if stream.ndim != 3 or stream.shape[1:] != (layout.total_steps, net.input_size):
        raise ShapeMismatchError("Lava input stream", f"[replicas, {layout.total_steps}, {net.input_size}]",
                                 stream.shape)
    if layout.depth != net.latency:
        raise ShapeMismatchError("stream layout depth", net.latency, layout.depth)
    replicas = stream.shape[0]
    if connection == "auto":
        connection = "dense" if replicas <= DENSE_MAX_REPLICAS else "sparse"
    voltage_layers = _voltage_layers(net, record_voltage)
    current_layers = _voltage_layers(net, record_current)
    fixed = config == "fixed_pt"
    spec = net.spec
    workdir = Path(workdir)
    S = layout.total_steps
    modes = {"mixed": SignMode.MIXED, "excitatory": SignMode.EXCITATORY, "inhibitory": SignMode.INHIBITORY}

    data = stream.transpose(0, 2, 1).reshape(replicas * net.input_size, S)
    source = RingBuffer(data=data.astype(np.int32 if fixed else np.float64))
    graph = LavaGraph(net=net, layout=layout, replicas=replicas, config=config, connection=connection,
                      source=source)
    graph.processes.append(source)

    def connection_process(weight: np.ndarray, rows: np.ndarray, col_pos: np.ndarray, n_cols: int,
                           exp: int, mode: str, float_scale: float, num_weight_bits: int):
        rr, cc, vv, shape = _block_rows(weight, rows, col_pos, n_cols, replicas)
        if fixed:
            vv = vv.astype(np.int32)
            kw = dict(weight_exp=int(exp), num_weight_bits=int(num_weight_bits), sign_mode=modes[mode])
        else:
            vv = vv.astype(np.float64) * float_scale
            kw = {}
        if connection == "sparse":
            mat = sp.csr_matrix((vv, (rr, cc)), shape=shape)
            proc = Sparse(weights=mat, **kw)
        else:
            mat = np.zeros(shape, dtype=vv.dtype)
            mat[rr, cc] = vv
            proc = Dense(weights=mat, **kw)
        graph.processes.append(proc)
        return proc

    # Each "port" is (OutPort, the layer's neuron indices it carries, pos[b, r] in the port).
    prev_ports = [(source.s_out, np.arange(net.input_size),
                   np.arange(replicas)[:, None] * net.input_size + np.arange(net.input_size)[None, :])]
    for depth, layer in enumerate(net.layers, start=1):
        groups = (_whole_layer(layer),) if per_neuron else layer.decay_groups()
        fparams = None if fixed else float_parameters(layer, spec)
        lifs = []
        for g in groups:
            m = g.size
            bias = np.broadcast_to(layer.bias_mant[g.neurons], (replicas, m)).ravel()
            if fixed:
                du, dv, vth = ((np.tile(np.asarray(a, dtype=np.int64), replicas) for a in (g.du, g.dv, g.vth))
                               if per_neuron else (g.du, g.dv, g.vth))
                lif = LIFReset(shape=(replicas * m,), du=du, dv=dv, vth=vth,
                               bias_mant=bias.astype(np.int32), bias_exp=int(layer.bias_exp),
                               reset_interval=layout.reset_interval, reset_offset=layout.reset_offset(depth))
            else:
                i0 = int(g.neurons[0])
                fbias = np.broadcast_to(fparams["bias"][g.neurons], (replicas, m)).ravel()
                du, dv, vth = ((np.tile(fparams[k][g.neurons], replicas) for k in ("du", "dv", "vth"))
                               if per_neuron else (float(fparams[k][i0]) for k in ("du", "dv", "vth")))
                lif = LIFReset(shape=(replicas * m,), du=du, dv=dv,
                               vth=vth, bias_mant=fbias.astype(np.float64), bias_exp=0,
                               reset_interval=layout.reset_interval, reset_offset=layout.reset_offset(depth))
            graph.processes.append(lif)
            lifs.append(lif)
        own_ports = [(lif.s_out, g.neurons, _local_positions(replicas, g.size)) for g, lif in zip(groups, lifs)]
        links = [(layer.weight, layer.weight_exp, layer.sign_mode, prev_ports)]
        if layer.recurrent:
            links.append((layer.rec_weight, layer.rec_exp, layer.rec_sign_mode, own_ports))
        for weight, exp, mode, ports in links:
            for g, lif in zip(groups, lifs):
                for port, cols, pos in ports:
                    block = weight[:, cols]
                    if not np.any(block[g.neurons]):
                        continue          # no synapse from this port to this group: no process
                    conn = connection_process(block, g.neurons, pos, pos.size, exp, mode, 2.0 ** exp,
                                              layer.num_weight_bits)
                    port.connect(conn.s_in)
                    conn.a_out.connect(lif.a_in)
        spike_paths, volt_paths, curr_paths = [], [], []
        for gi, (g, lif) in enumerate(zip(groups, lifs)):
            spath = workdir / f"spikes_{depth}_{gi}.npy"
            recorder = SpikeRecorder(shape=(replicas * g.size,), num_steps=S, path=str(spath))
            lif.s_out.connect(recorder.a_in)
            graph.processes.append(recorder)
            spike_paths.append(spath)
            if layer.name in voltage_layers:
                vpath = workdir / f"voltage_{depth}_{gi}.npy"
                graph.processes.append(VarRecorder(var=lif.v, num_steps=S, path=str(vpath)))
                volt_paths.append(vpath)
            if layer.name in current_layers:
                cpath = workdir / f"current_{depth}_{gi}.npy"
                graph.processes.append(VarRecorder(var=lif.u, num_steps=S, path=str(cpath)))
                curr_paths.append(cpath)
        graph.spike_files[layer.name] = spike_paths
        if volt_paths:
            graph.voltage_files[layer.name] = volt_paths
        if curr_paths:
            graph.current_files[layer.name] = curr_paths
        graph.lifs[layer.name] = lifs
        graph.groups[layer.name] = groups
        prev_ports = own_ports
    return graph


def _whole_layer(layer: Any) -> DecayGroup:
    """All of a layer's neurons as one group with per-neuron du, dv, vth arrays (decays="per-neuron")."""
    idx = np.arange(layer.n_out, dtype=np.int64)
    idx.setflags(write=False)
    return DecayGroup(np.asarray(layer.du), np.asarray(layer.dv), np.asarray(layer.vth), idx)


def per_neuron_problem(net: Any) -> str | None:
    """Why ``decays="per-neuron"`` cannot reproduce the emulator for ``net`` (None: it can).
    With one process per layer, a negative exponent floors the whole sum; the emulator floors
    per source decay group (the groups mode's connections)."""
    for i, layer in enumerate(net.layers):
        links = [(layer.weight_exp, net.layers[i - 1] if i else None)]
        if layer.recurrent:
            links.append((layer.rec_exp, layer))
        for exp, source in links:
            if exp < 0 and source is not None and len(source.decay_groups()) > 1:
                return (f"layer {layer.name!r} has a negative weight exponent ({exp}) on input from "
                        f"{len(source.decay_groups())} decay groups: per-neuron processes would floor the whole sum, "
                        "the emulator (and the groups mode) floor per group")
    return None


def _check_per_neuron(net: Any) -> None:
    """Refuse ``decays="per-neuron"`` where :func:`per_neuron_problem` finds a reason."""
    problem = per_neuron_problem(net)
    if problem is not None:
        raise ConfigError("decays", problem, remedy='use decays="groups"')


def _local_positions(replicas: int, m: int) -> np.ndarray:
    """pos[b, r] = b * m + r: neuron r of replica b in a group process of replicas * m neurons."""
    return np.arange(replicas)[:, None] * m + np.arange(m)[None, :]


def _voltage_layers(net: LoihiNetwork, record_voltage: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(record_voltage, str):
        choices = {"readout": (net.layer_names[-1],), "all": net.layer_names, "none": ()}
        if record_voltage in choices:
            return choices[record_voltage]
        record_voltage = [record_voltage]
    names = tuple(record_voltage)
    for n in names:
        net.layer(n)  # ConfigError listing the layers
    return names
