"""Run a :class:`~spikedeploy.quant.loihi2_network.Loihi2Network` in Lava (``fixed_pt``), and check it.

Per hidden layer: one neuron process of its kind (:mod:`.procs.loihi2_neurons`) and one Lava
``Dense`` per connection the layer lists (``layer.connections()``: a pr-v2 layer's forget and
candidate rows, a GPN layer's current and four gates' rows), feed-forward from the previous
layer's outputs (graded payloads with ``num_message_bits`` = their width, or binary spikes)
and recurrent from the neuron's ``p_out`` (a pr-v2 layer's payloads, a GPN layer's graded
state). The readout is Lava's ``LIFReset`` (one per decay group) fed by a Dense.
``replicas`` copies run side by side (block-diagonal matrices), each playing its own stream
of samples back to back with no gap (the neurons drop their recurrent input at a reset:
:mod:`spikedeploy.quant.pr_graded`). Every layer's outputs and the readout's voltage are
recorded; :func:`verify_loihi2` replays the stream in the
emulator and raises VerificationError at the first difference. Ctrl-C and SIGTERM stop
every Lava process (:func:`spikedeploy.processes.interruptible`), as for the LIF networks.
Lava is imported only inside the functions (the package imports without it).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeMismatchError
from ..processes import interruptible
from ..quant import fixed_point as fx
from ..quant.emulator import StreamLayout, pack_samples, verify_identical
from ..quant.loihi2_network import Loihi2Network
from ..quant.loihi2_emulator import emulate_loihi2_stream
from . import require_lava
from .build import DENSE_MAX_REPLICAS, _connection_process, _local_positions
from .run import REDELIVER_S, _forget, _load, _run_graph


@dataclass
class _Graph:
    """What the shared Lava runner and connection builder need (:func:`.run._run_graph`,
    :func:`.build._connection_process`)."""

    layout: StreamLayout
    replicas: int
    source: Any
    config: str = "fixed_pt"
    processes: list[Any] = field(default_factory=list)
    fixed: bool = True

    @property
    def anchor(self) -> Any:
        return self.source

    @property
    def connection(self) -> str:
        """``dense`` up to DENSE_MAX_REPLICAS copies, ``sparse`` above (the LIF builder's ``auto``)."""
        return "dense" if self.replicas <= DENSE_MAX_REPLICAS else "sparse"


@dataclass(frozen=True)
class Loihi2LavaRun:
    """Lava's recordings on its step grid: every hidden layer's outputs ``[B, S, n]`` (``payloads``: a
    pr-v2 layer's graded payloads, a GPN layer's spikes), the readout's voltage ``[B, S, n_out]``;
    the stream played; timing in seconds."""

    net: Loihi2Network
    layout: StreamLayout
    n_samples: int
    stream: np.ndarray
    payloads: dict[str, np.ndarray]
    readout_voltage: np.ndarray
    timing: dict[str, float]

    def readout(self) -> np.ndarray:
        """Per-sample readout voltage ``[N, T, n_out]`` (padding samples dropped)."""
        return self.layout.cut(self.readout_voltage, self.layout.depth)[:self.n_samples]


def _dense(graph: _Graph, weight: np.ndarray, exp: int, bits: int, num_weight_bits: int = 8) -> Any:
    """``weight`` for every replica (block-diagonal): the LIF builder's connection process, Lava's
    ``Dense``, or ``Sparse`` above DENSE_MAX_REPLICAS copies (:func:`.build._connection_process`)."""
    n_out, n_in = weight.shape
    return _connection_process(graph, weight, np.arange(n_out), _local_positions(graph.replicas, n_in), exp,
                               fx.sign_mode(weight), num_weight_bits, 0, bits)


def _build(net: Loihi2Network, stream: np.ndarray, layout: StreamLayout, workdir: Path) -> tuple[_Graph, list, list]:
    from lava.proc.io.source import RingBuffer  # lazy: Lava is imported only in the Lava backend's functions
    from lava.proc.lif.process import LIFReset

    from .procs import loihi2_neurons, recorders  # lazy: Lava processes

    B, S = stream.shape[0], layout.total_steps
    source = RingBuffer(data=stream.transpose(0, 2, 1).reshape(B * net.input_size, S).astype(np.int32))
    graph = _Graph(layout=layout, replicas=B, source=source, processes=[source])
    prev, files = source.s_out, []
    for depth, l in enumerate(net.hidden, start=1):
        params = {k: np.tile(v, B) if isinstance(v, np.ndarray) else v for k, v in l.neuron_params().items()}
        neuron = loihi2_neurons.NEURONS[l.kind](
            shape=(B * l.n_out,), params=params, state_bits=net.spec.state_bits,
            reset_interval=layout.reset_interval, reset_offset=layout.reset_offset(depth))
        graph.processes.append(neuron)
        for target, weight, exp, rec in l.connections():
            conn = _dense(graph, weight, exp, l.rec_bits if rec else net.message_bits(depth - 1), l.num_weight_bits)
            (neuron.p_out if rec else prev).connect(conn.s_in)
            conn.a_out.connect(getattr(neuron, f"{'r' if rec else 'a'}_{target}"))
        path = workdir / f"outputs_{depth}.npy"
        recorder = recorders.SpikeRecorder(shape=(B * l.n_out,), num_steps=S, path=str(path))
        neuron.s_out.connect(recorder.a_in)
        graph.processes.append(recorder)
        files.append(path)
        prev = neuron.s_out
    r, vfiles = net.readout, []
    for g in r.decay_groups():                      # one LIF process per (du, dv, vth), as Lava holds them
        conn = _dense(graph, r.weight[g.neurons], r.weight_exp, net.hidden[-1].out_bits, r.num_weight_bits)
        lif = LIFReset(shape=(B * g.size,), du=g.du, dv=g.dv, vth=g.vth,
                       bias_mant=np.tile(r.bias_mant[g.neurons], B).astype(np.int32), bias_exp=int(r.bias_exp),
                       reset_interval=layout.reset_interval, reset_offset=layout.reset_offset(layout.depth))
        prev.connect(conn.s_in)
        conn.a_out.connect(lif.a_in)
        vpath = workdir / f"readout_v_{len(vfiles)}.npy"
        graph.processes += [lif, recorders.VarRecorder(var=lif.v, num_steps=S, path=str(vpath))]
        vfiles.append((g.neurons, vpath))
    return graph, files, vfiles


def _check(net: Loihi2Network, samples: np.ndarray) -> None:
    if not isinstance(net, Loihi2Network):
        raise ConfigError("net", f"expected a Loihi2Network, got {type(net).__name__}")
    if samples.ndim != 3 or samples.shape[-1] != net.input_size:
        raise ShapeMismatchError("samples", f"[N, T, {net.input_size}]", samples.shape)
    if samples.size and not np.isin(samples, (0, 1)).all():
        raise ConfigError("samples", "values must be 0 or 1 (binary spikes)")


def run_loihi2(net: Loihi2Network, samples, *, replicas: int = 1, progress: bool = False,
               chunks: int = 1) -> Loihi2LavaRun:
    """Run ``samples`` ([N, T, in], 0/1) through ``net`` in ONE Lava run (``fixed_pt``), ``replicas``
    streams side by side, no gap between samples (module docstring)."""
    require_lava()
    samples = np.asarray(samples)
    _check(net, samples)
    stream, layout = pack_samples(samples, int(replicas), net.latency, 0)
    B, S = stream.shape[0], layout.total_steps
    with tempfile.TemporaryDirectory(prefix="spikedeploy-lava-") as tmp, interruptible(REDELIVER_S) as guard:
        t0 = time.perf_counter()
        graph, files, vfiles = _build(net, stream, layout, Path(tmp))
        t1 = time.perf_counter()
        t_first, t_end = _run_graph(graph, chunks, progress, guard)
        payloads = {l.name: _load(f).reshape(S, B, l.n_out).transpose(1, 0, 2).astype(np.int8)
                    for l, f in zip(net.hidden, files)}
        volt = np.zeros((B, S, net.output_size), dtype=np.int64)
        for neurons, path in vfiles:
            volt[:, :, neurons] = _load(path).reshape(S, B, neurons.size).transpose(1, 0, 2)
        t2 = time.perf_counter()
        _forget(graph)
        guard.check()
    steady = max(t_end - t_first, 1e-9)
    timing = {"build_s": t1 - t0, "startup_s": t_first - t1, "run_s": steady, "read_s": t2 - t_end,
              "sample_steps_per_s": B * (S - 1) / steady if S > 1 else 0.0}
    return Loihi2LavaRun(net, layout, int(samples.shape[0]), stream, payloads, volt, timing)


def verify_loihi2(run: Loihi2LavaRun) -> None:
    """Replay the run's stream in the emulator; VerificationError at the first payload or readout
    voltage that differs."""
    emu = emulate_loihi2_stream(run.net, run.stream, run.layout)
    for depth, l in enumerate(run.net.hidden, start=1):
        verify_identical(l.name, emu.payloads[l.name].numpy(), run.payloads[l.name], layout=run.layout, depth=depth)
    verify_identical(run.net.readout.name, emu.readout_voltage.numpy(), run.readout_voltage, layout=run.layout,
                     depth=run.layout.depth)
