"""Run a stream of samples through Lava in one run, and check it against the emulator.

:func:`run_stream` packs N samples into ``replicas`` streams (replica b gets
samples ``b*n, ..., b*n + n - 1``, n = ceil(N / replicas); missing samples at the
end are zero input), builds the Lava graph (:mod:`.build`), runs
``Loihi2SimCfg(select_tag=config)`` for ``layout.total_steps`` steps in one
Lava run (resets between samples by ``LIFReset``), and reads the recordings back.

:func:`verify_bit_exact` replays the same stream in
:func:`~spikedeploy.quant.emulator.emulate_stream` and raises
:class:`~spikedeploy.errors.VerificationError` at the first spike or voltage that
differs.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from tqdm import tqdm

from ..errors import ConfigError, Interrupted, ShapeMismatchError, SpikedeployError
from ..netspec import NetworkSpec
from ..quant.emulator import StreamLayout, StreamResult, emulate_stream, pack_samples, verify_identical
from ..processes import Guard, interruptible
from ..quant.loihi_network import LoihiNetwork
from . import require_lava
from .adapters import CONFIGS, LavaNetwork, lava_network
from .build import LavaGraph, build_graph


#: A Ctrl-C or SIGTERM during a Lava run is raised again this often until the clean-up begins
#: (a signal can land where Python drops the exception, e.g. in a fork handler while Lava
#: starts its processes; :class:`~spikedeploy.processes.Guard`).
REDELIVER_S = 0.5


@dataclass(frozen=True)
class LavaRunResult:
    """Recordings of one Lava run, on Lava's step grid.

    ``net`` is the network that was run (a LoihiNetwork, or a NetworkSpec in ``floating_pt``),
    ``lava`` what Lava's processes were given (:mod:`.adapters`). ``stream`` [B, S, in] (uint8)
    is what was played; ``spikes[layer]`` [B, S, n] (int8); ``voltage[layer]`` [B, S, n] for the
    recorded layers in the network's own units: int64 for ``fixed_pt``; float64 for
    ``floating_pt`` (integer units for a LoihiNetwork, the spec's units for a NetworkSpec);
    ``current[layer]`` likewise for u.
    ``timing``: seconds to build, start (compile + first step), run the remaining steps
    (``run_s``), stop Lava (``stop_s``) and read back (``read_s``); ``sample_steps_per_s``
    = replicas x (steps - 1) / run_s (steady state), ``wall_sample_steps_per_s`` over everything.
    """

    net: LoihiNetwork | NetworkSpec
    lava: LavaNetwork
    layout: StreamLayout
    config: str
    n_samples: int
    stream: np.ndarray
    spikes: Mapping[str, np.ndarray]
    voltage: Mapping[str, np.ndarray]
    current: Mapping[str, np.ndarray] = field(default_factory=dict)
    timing: Mapping[str, float] = field(default_factory=dict)

    @property
    def replicas(self) -> int:
        return int(self.stream.shape[0])

    def per_sample(self) -> dict[str, dict[str, np.ndarray]]:
        """Aligned per-sample windows ``[N, T, n]`` (padding samples dropped):
        ``{"spikes": {layer: ...}, "voltage": {layer: ...}, "current": {layer: ...}}``."""
        lay = self.layout
        out: dict[str, dict[str, np.ndarray]] = {"spikes": {}, "voltage": {}, "current": {}}
        for kind, traces in (("spikes", self.spikes), ("voltage", self.voltage), ("current", self.current)):
            for depth, name in enumerate(self.lava.layer_names, start=1):
                if name in traces:
                    out[kind][name] = lay.cut(traces[name], depth)[:self.n_samples]
        return out

    @property
    def readout(self) -> np.ndarray:
        """Per-sample readout voltage ``[N, T, n_out]``."""
        name = self.lava.layer_names[-1]
        if name not in self.voltage:
            raise ConfigError("record_voltage", "the readout voltage was not recorded")
        return self.per_sample()["voltage"][name]


def _models(config: str) -> dict[Any, Any]:
    """Process models that replace Lava's defaults: ``fixed_pt`` delayed connections that build their
    delay matrix once (:mod:`.procs.delay_models`)."""
    if config != "fixed_pt":
        return {}
    from .procs.delay_models import FIXED_PT_MODELS  # lazy: Lava process models
    return dict(FIXED_PT_MODELS)


def run_stream(net: LoihiNetwork | NetworkSpec, samples, *, gap_steps: int = 0, replicas: int = 1,
               config: str = "fixed_pt", connection: str = "auto",
               record_voltage: str | Sequence[str] = "readout", record_current: str | Sequence[str] = "none",
               progress: bool = False, chunks: int = 1, decays: str = "groups") -> LavaRunResult:
    """Run ``samples`` ([N, T, in], 0/1, or graded payloads for ``net.input_bits`` > 0) through ``net``
    in ONE Lava run: a LoihiNetwork in
    either configuration, or a float NetworkSpec in ``floating_pt`` (:mod:`.adapters`).

    ``replicas`` copies of the network advance side by side (each plays its own
    stream of ceil(N / replicas) samples); ``gap_steps`` zero steps follow each
    sample (see the stream rule in ``docs/fixed-point.md``); ``config`` is
    ``"fixed_pt"`` (bit-accurate) or ``"floating_pt"``. ``progress`` shows a tqdm bar,
    advancing the run in ``chunks`` calls (``max(chunks, 20)`` with a bar). ``decays``:
    ``"groups"`` (one LIF process per decay group) or ``"per-neuron"`` (simulation only,
    see :mod:`.build`).
    """
    require_lava()
    if config not in CONFIGS:
        raise ConfigError("config", f"unknown Lava configuration {config!r}", valid=CONFIGS)
    lava = lava_network(net, config)
    samples = np.asarray(samples)
    if samples.ndim != 3 or samples.shape[-1] != lava.input_size:
        raise ShapeMismatchError("samples", f"[N, T, {lava.input_size}]", samples.shape)
    if lava.input_bits:
        lo, hi = -(1 << (lava.input_bits - 1)), (1 << (lava.input_bits - 1)) - 1
        if samples.size and not (np.issubdtype(samples.dtype, np.integer) and samples.min() >= lo
                                 and samples.max() <= hi):
            raise ConfigError("samples", f"graded payloads must be integers in [{lo}, {hi}] ({lava.input_bits} bits)")
    elif samples.size and not np.isin(samples, (0, 1)).all():
        raise ConfigError("samples", "values must be 0 or 1 (binary spikes)")
    stream, layout = pack_samples(samples, replicas, lava.latency, gap_steps)
    S = layout.total_steps
    with tempfile.TemporaryDirectory(prefix="spikedeploy-lava-") as tmp, interruptible(REDELIVER_S) as guard:
        t0 = time.perf_counter()
        graph = build_graph(lava, stream, layout, tmp, connection=connection, record_voltage=record_voltage,
                            record_current=record_current, decays=decays)
        t1 = time.perf_counter()
        t_first, t_end = _run_graph(graph, chunks, progress, guard)
        t2 = time.perf_counter()
        spikes, voltage, current = _read(graph)
        t3 = time.perf_counter()
        _forget(graph)
        guard.check()          # a signal Lava's code swallowed: nothing of this run is used
    steady_s = max(t_end - t_first, 1e-9)
    timing = {"build_s": t1 - t0, "startup_s": t_first - t1, "run_s": steady_s, "stop_s": t2 - t_end,
              "read_s": t3 - t2,
              "steps": float(S), "sample_steps_per_s": replicas * (S - 1) / steady_s if S > 1 else 0.0,
              "wall_sample_steps_per_s": replicas * S / (t3 - t0)}
    return LavaRunResult(net=net, lava=lava, layout=layout, config=config, n_samples=int(samples.shape[0]),
                         stream=stream, spikes=spikes, voltage=voltage, current=current, timing=timing)


def _run_graph(graph: LavaGraph, chunks: int, progress: bool, guard: Guard) -> tuple[float, float]:
    """Run the graph for the whole stream and stop Lava; return the times the first step and
    the last one ended. The first call runs one step: it compiles the graph and starts Lava's
    processes, so the steady-state speed can be timed apart from the start-up.

    On any exception, Ctrl-C and SIGTERM included (:func:`~spikedeploy.processes.interruptible`),
    Lava's own ``stop`` is not called (it waits forever for processes that have ended): the
    processes Lava started are ended, their shared memory is unlinked, and the runtime is
    marked stopped so that Lava does not try again at exit."""
    from lava.magma.core.run_conditions import RunSteps  # lazy: Lava is imported only in the Lava backend
    from lava.magma.core.run_configs import Loihi2SimCfg

    S = graph.layout.total_steps
    n_calls = max(1, chunks, 20 if progress else 1)
    rest = [len(c) for c in np.array_split(np.arange(S - 1), min(n_calls, max(S - 1, 1)))]
    sizes = [1] + [r for r in rest if r > 0]
    bar = tqdm(total=S, desc=f"Lava {graph.config} x{graph.replicas}", unit="step") if progress else None
    cfg = Loihi2SimCfg(select_tag=graph.config, exception_proc_model_map=_models(graph.config))
    t_first = None
    try:
        for size in sizes:
            graph.anchor.run(condition=RunSteps(num_steps=int(size)), run_cfg=cfg)
            if t_first is None:
                t_first = time.perf_counter()
            if bar is not None:
                bar.update(size)
        t_end = time.perf_counter()
        graph.anchor.stop()
    except BaseException as err:
        stopped = guard.stop()
        _abandon(graph)
        _forget(graph)
        if isinstance(err, Interrupted):
            err.stopped, err.released = stopped.processes, stopped.segments
        raise
    finally:
        if bar is not None:
            bar.close()
    return t_first, t_end


def _abandon(graph: LavaGraph) -> None:
    """Detach the graph's processes from their Lava runtime (its processes were ended by us) and
    mark it stopped, so that neither ``AbstractProcess.__del__`` nor ``Runtime.__del__`` calls
    Lava's ``stop`` on them at exit (it fails, or waits, on a half-started runtime). Lava 0.10
    offers no public way to abandon a runtime."""
    runtime = getattr(graph.anchor, "runtime", None)
    for process in graph.processes:
        process.runtime = None
    if runtime is not None:
        runtime._is_started = False
        runtime._is_running = False


def _forget(graph: LavaGraph) -> None:
    """Drop the graph's processes and Vars from Lava's global registries (``ProcessServer``,
    ``VarServer``), which keep every one ever made: otherwise each run in a long-lived process
    (the pipeline, a notebook) holds its whole graph - its weights, its channel buffers - for good."""
    from lava.magma.core.process.process import ProcessServer  # lazy: Lava is imported only in the Lava backend
    from lava.magma.core.process.variable import VarServer

    ours = {id(p) for p in graph.processes}
    server = ProcessServer()
    server.processes = [p for p in server.processes if id(p) not in ours]
    variables = VarServer()
    variables.vars = [v for v in variables.vars if id(getattr(v, "process", None)) not in ours]


def _load(path: Path, wait_s: float = 10.0) -> np.ndarray:
    deadline = time.monotonic() + wait_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SpikedeployError(f"{path.name}: Lava's recorder did not write its trace",
                                   remedy="the run ended early; check the Lava log above")
        time.sleep(0.01)
    return np.load(path)


def _read(graph) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Load the recorders' files and put every neuron back in its place: [B, S, n] per layer."""
    B, S = graph.replicas, graph.layout.total_steps
    fixed = graph.fixed
    scale = graph.net.state_scale

    def assemble(files: Mapping[str, list[Path]], dtype, factor: float) -> dict[str, np.ndarray]:
        out = {}
        for name, paths in files.items():
            arr = np.zeros((B, S, graph.net.layer(name).n_out), dtype=dtype)
            for g, path in zip(graph.groups[name], paths):
                raw = _load(path)                     # [S, B * m]: replica-major inside the group
                arr[:, :, g.neurons] = (raw.reshape(S, B, g.size).transpose(1, 0, 2) * factor).astype(dtype)
            out[name] = arr
        return out

    state = np.int64 if fixed else np.float64
    return (assemble(graph.spike_files, np.int8, 1), assemble(graph.voltage_files, state, scale),
            assemble(graph.current_files, state, scale))


def verify_bit_exact(result: LavaRunResult, *, device: str | None = None) -> StreamResult:
    """Replay ``result``'s stream in the emulator; raise VerificationError at the first difference.

    Compares the spikes of every layer and every recorded voltage, step for step
    on Lava's grid (``fixed_pt`` runs only). Returns the emulator's stream result.
    """
    if result.config != "fixed_pt" or not isinstance(result.net, LoihiNetwork):
        raise ConfigError("config", f"bit-exactness is defined for fixed_pt runs, not {result.config!r}",
                          valid=("fixed_pt",))
    emu = emulate_stream(result.net, result.stream, result.layout, record=("s", "v", "u"),
                         on_overflow="ignore", device=device)
    for depth, name in enumerate(result.net.layer_names, start=1):
        verify_identical(name, emu.spikes[name].cpu().numpy(), result.spikes[name],
                         layout=result.layout, depth=depth)
        for mine, lavas in ((emu.voltage, result.voltage), (emu.current, result.current)):
            if name in lavas:
                verify_identical(name, mine[name].cpu().numpy(), lavas[name], layout=result.layout, depth=depth)
    return emu
