"""Run a NIR model on an SHD-format data set in Lava: what ``spikedeploy lava-run`` calls.

:func:`run_nir` reads the graph (any framework's, through :mod:`.convert`'s registry),
bins the data as the graph's metadata says (or as the options say), gets the
network Lava runs -- the integers stored in the graph, the float network quantised
here on calibration data, or, with ``config="floating_pt"``, the float network
itself (:mod:`.float_net`) -- and streams every sample through ONE Lava run
(:func:`spikedeploy.lava_backend.run.run_stream`: ``LIFReset`` between samples,
resets offset by layer depth, ``replicas`` copies side by side), then reads the
predictions, spike trains and readout back, aligned to the input.

**Gap and reference (the stream rule, ``docs/fixed-point.md``).** The only thing a
sample can pass to the next in a Lava stream is the recurrent Dense's last spikes.
Unless ``gap_steps`` is given, the gap is the smallest one after which every
recurrent layer is silent for these samples (``quiet_gap`` on the integer network;
the float network's own run for ``floating_pt``). After the run the carried spikes
are counted from Lava's own recordings (:func:`carried_samples`); with none, every
sample's window equals an independent run (``emulate``), otherwise the exact
reference is ``emulate_stream`` (Lava's timing). ``verify=True`` always compares
against ``emulate_stream`` on the whole stream (exact either way) and raises
:class:`~spikedeploy.errors.VerificationError` at the first difference.

Everything the run assumed (the time step, the binning, the calibration data,
NIR approximations) is listed in :attr:`LavaRunSummary.notes`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, DataFormatError, ShapeMismatchError
from .results import LavaResults, file_sha256, indices_sha256

#: Replicas used when none are asked for: one copy per sample (nothing then follows a sample
#: in its copy, so no recurrent spike crosses a reset and every window is an independent run),
#: as long as the copies hold at most this many synapses in all (Lava's memory grows with
#: B x synapses: about 2.8 GB for 600 copies of the 700-128r-20 network); else as many copies
#: as fit, each playing several samples. Measured in docs/benchmarks.md ("Lava bit-exactness").
DEFAULT_SYNAPSE_BUDGET = 70_000_000
#: Binning assumed for a graph without the project's metadata (and no options): one feature per
#: data channel (a data file with more channels than the graph's inputs is refused, naming --pool).
DEFAULT_BINNING = {"n_steps": 100, "duration": 1.0, "binary": True, "pool": 1}
#: ``decays="auto"`` builds one LIF process per decay group while every layer has at most this
#: many groups (the fold's default K = 8 profiles), else one process per layer with per-neuron
#: decays (simulation only): a trained model has one group per neuron, and groups cost
#: (groups of the source) x (groups) connections.
AUTO_MAX_DECAY_GROUPS = 8
DECAY_CHOICES = ("auto", "groups", "per-neuron")
#: Calibration samples drawn when the graph must be quantised here.
DEFAULT_CALIB_SAMPLES = 256
CONFIGS = ("fixed_pt", "floating_pt")


# ------------------------------------------------------------------------------------- inputs

def data_file(path: str | Path, name: str = "test.h5") -> Path:
    """``path`` itself, or ``path/<name>`` for a folder."""
    path = Path(path)
    if path.is_dir():
        inner = path / name
        if not inner.is_file():
            raise DataFormatError(path, f"is a folder without {name}",
                                  remedy=f"pass the SHD-format file itself (e.g. DIR/{name})")
        return inner
    return path


def resolve_binning(stored: Mapping[str, Any] | None, n_channels: int, *,
                    n_steps: int | None = None, duration: float | None = None, pool: int | None = None,
                    binary: bool | None = None) -> tuple[Any, dict[str, str]]:
    """The BinningConfig for the data: each field from the option, else the graph's stored
    binning, else :data:`DEFAULT_BINNING`. Returns ``(binning, {field: "option" |
    "graph metadata" | "assumed (default)"})``."""
    from ..data.shd import BinningConfig

    stored = dict(stored or {})
    given = {"n_steps": n_steps, "duration": duration, "pool": pool, "binary": binary}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, opt in given.items():
        if opt is not None:
            values[key], sources[key] = opt, "option"
        elif key in stored and stored[key] is not None:
            values[key], sources[key] = stored[key], "graph metadata"
        else:
            values[key], sources[key] = DEFAULT_BINNING[key], "assumed (default)"
    return BinningConfig(n_steps=values["n_steps"], duration=values["duration"], binary=values["binary"],
                         pool=values["pool"], n_channels=n_channels), sources


def check_data_against_graph(data_path: Path, n_channels: int, binning: Any, input_size: int,
                             n_labels: int, n_outputs: int) -> None:
    """ShapeMismatchError when the binned data cannot feed the graph (channels, pool, classes)."""
    features = n_channels // binning.pool
    if features != input_size:
        if n_channels > input_size * binning.pool:
            problem = (f"{data_path} has {n_channels} channels, more than the graph's {input_size} inputs "
                       f"x pool {binning.pool}")
        else:
            problem = f"{data_path} has {n_channels} channels, fewer than the graph's {input_size} inputs x pool {binning.pool}"
        hint = (f"pass --pool {n_channels // input_size} (the data's channels / the graph's inputs)"
                if n_channels % input_size == 0 and n_channels // input_size != binning.pool else
                "run the model on data of the kind it was trained on")
        raise ShapeMismatchError(f"input features per frame ({problem})", input_size, features, remedy=hint)
    if n_labels > n_outputs:
        raise ShapeMismatchError(f"classes of {data_path} (labels 0..{n_labels - 1}) against the graph's outputs",
                                 n_outputs, n_labels, remedy="run the model on data with the classes it was trained on")


def choose_samples(labels: np.ndarray, samples: int | None) -> np.ndarray:
    """All sample indices, or ``samples`` of them spread evenly over the classes
    (seeded, sorted; :func:`spikedeploy.quant.export.stratified_indices`)."""
    n = int(labels.shape[0])
    if samples is None or samples >= n:
        return np.arange(n, dtype=np.int64)
    if isinstance(samples, bool) or int(samples) < 1:
        raise ConfigError("samples", f"must be a positive integer, got {samples!r}")
    from ..quant.export import stratified_indices

    return stratified_indices(labels, int(samples), seed=0).astype(np.int64)


def binned_samples(spikes: Any, binning: Any, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``(x uint8 [N, T, F] binary, labels int64 [N], clipped)``: counts > 1 are clipped to 1
    (Loihi's input spikes are binary); ``clipped`` counts them."""
    from ..data.shd import ShdDataset

    ds = ShdDataset(spikes, binning, indices=indices, progress=False)
    x, y = ds.tensors()
    x = x.numpy()
    clipped = int((x > 1).sum())
    return (x > 0).astype(np.uint8), y.numpy().astype(np.int64), clipped


# ------------------------------------------------------------------------------------- stream

def carried_samples(result: Any) -> np.ndarray:
    """bool [N]: samples whose window received recurrent spikes across its reset, read from
    Lava's own recordings (a recurrent layer at depth k spiking on the step before its reset,
    ``i R + k - 1``). All False: every window equals an independent run."""
    lay = result.layout
    R = lay.reset_interval
    carried = np.zeros((result.replicas, lay.n_samples), dtype=bool)
    for depth, layer in enumerate(result.net.layers, start=1):
        if not layer.recurrent:
            continue
        steps = np.arange(lay.n_samples) * R + depth - 1
        carried |= result.spikes[layer.name][:, steps, :].any(axis=2)
    return carried.reshape(-1)[:result.n_samples]


def default_replicas(net: Any, n_samples: int, budget: int = DEFAULT_SYNAPSE_BUDGET) -> int:
    """``min(N, budget // synapses per copy)`` (at least 1); see :data:`DEFAULT_SYNAPSE_BUDGET`."""
    per_copy = 0
    for layer in net.layers:
        per_copy += int(np.count_nonzero(layer.weight))
        if layer.rec_weight is not None:
            per_copy += int(np.count_nonzero(layer.rec_weight))
    return max(1, min(int(n_samples), budget // max(per_copy, 1)))


def stream_reference(net: Any, samples: np.ndarray, replicas: int, gap_steps: int, *,
                     record: tuple[str, ...] = ("s", "v"), device: Any = None) -> Any:
    """The emulator's exact reference for a Lava run with these settings, per sample: the
    samples packed as the runner packs them (replica b plays samples b n .. b n + n - 1,
    n = ceil(N / replicas); :func:`spikedeploy.lava_backend.run.pack_samples`), replayed in
    :func:`~spikedeploy.quant.emulator.emulate_stream` and cut into aligned windows
    ``[N, T, n]`` (padding samples dropped). Equal to ``emulate(net, samples)`` when no
    sample received carried spikes; always equal to the Lava run's ``per_sample()``."""
    from ..quant.emulator import EmulatorResult, emulate_stream
    from .run import pack_samples

    samples = np.asarray(samples)
    stream, layout = pack_samples(samples, int(replicas), net.latency, int(gap_steps))
    res = emulate_stream(net, stream, layout, record=record, on_overflow="ignore", device=device).per_sample()
    n = samples.shape[0]
    cut = lambda d: {k: v[:n] for k, v in d.items()}  # noqa: E731
    return EmulatorResult(res.layer_names, cut(res.spikes), cut(res.voltage), cut(res.current), res.overflow)


def float_quiet_gap(spec: Any, samples: np.ndarray, max_gap: int, batch_size: int = 64) -> int | None:
    """The smallest gap after which every recurrent layer of the float network is silent on
    the last step of each sample's window (``quiet_gap``'s rule, in float64); None if none."""
    import torch

    from ..models.spec_network import SpecNetwork

    rec = [i for i, l in enumerate(spec.layers) if l.recurrent]
    if not rec:
        return 0
    N, T, F = samples.shape
    model = SpecNetwork(spec, dtype=torch.float64)
    active = np.zeros(T + max_gap, dtype=np.int64)
    with torch.no_grad():
        for b0 in range(0, N, batch_size):
            xb = torch.zeros((min(batch_size, N - b0), T + max_gap, F), dtype=torch.float64)
            xb[:, :T] = torch.as_tensor(samples[b0:b0 + batch_size], dtype=torch.float64)
            run = model.run(xb)
            for i in rec:
                active += run.outputs[i].sum(dim=(0, 2)).to(torch.int64).numpy()
    for gap in range(max_gap + 1):
        if active[T + gap - 1] == 0:
            return gap
    return None


def readout_values(voltage: np.ndarray | None, spikes: np.ndarray | None, mode: str, spiking: bool,
                   fixed: bool) -> np.ndarray:
    """[N, n_out] values whose argmax is the prediction: spike counts of a spiking last layer;
    otherwise the readout voltage reduced per ``mode`` ("last", "mean", "max"). For
    ``fixed`` runs "mean" keeps the integer sum (the final voltage), whose argmax is the same."""
    if spiking:
        counts = spikes.astype(np.int64).sum(axis=1)
        return counts if fixed else counts.astype(np.float64)
    if mode == "max":
        return voltage.max(axis=1)
    if mode == "mean" and not fixed:
        return voltage[:, -1] / voltage.shape[1]
    if mode in ("last", "mean"):
        return voltage[:, -1]
    raise ConfigError("readout", f"unknown readout {mode!r}", valid=("last", "mean", "max"))


# ------------------------------------------------------------------------------------- summary

@dataclass
class LavaRunSummary:
    """What :func:`run_nir` did and measured; :meth:`format` prints it, :meth:`to_results`
    gives the results file's contents (``results_path`` is set when it was written)."""

    model_path: Path
    data_path: Path
    config: str
    network_source: str            # "stored", "quantized" or "float"
    decays: str                    # "groups" or "per-neuron" (LIF processes per layer)
    layer_names: tuple[str, ...]
    spiking: dict[str, bool]
    sizes: dict[str, int]
    sample_indices: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    readout: np.ndarray
    readout_mode: str
    spikes: dict[str, np.ndarray]          # aligned, bool [N, T, n] per spiking layer
    readout_voltage: dict[str, np.ndarray]  # aligned [N, T, n_out] (the last layer)
    binning: dict[str, Any]
    binning_sources: dict[str, str]
    dt: float
    dt_source: str
    replicas: int
    gap_steps: int
    gap_source: str
    carried: np.ndarray                    # bool [N]
    lava_steps: int
    timing: dict[str, float]
    wall_time_s: float
    verified: bool | None
    plan_text: str
    network_text: str
    notes: list[str] = field(default_factory=list)
    quant_report_text: str | None = None
    float_reference: dict[str, Any] | None = None
    lava_result: Any = None                # the LavaRunResult (Lava's step grid)
    net: Any = None                        # LoihiNetwork or FloatNetwork
    plan: Any = None                       # LavaPlan
    results_path: Path | None = None
    lava_version: str = "unknown"
    created: str = ""
    model_sha256: str = ""
    data_sha256: str = ""

    @property
    def n_samples(self) -> int:
        return int(self.sample_indices.shape[0])

    @property
    def n_steps(self) -> int:
        return int(self.binning["n_steps"])

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predictions == self.labels)) if self.n_samples else math.nan

    @property
    def independent(self) -> bool:
        """True when no sample's window received spikes from the previous sample."""
        return not bool(self.carried.any())

    @property
    def reference(self) -> str:
        """Which emulator run the per-sample results equal exactly."""
        if self.independent:
            return "emulate (independent runs: no recurrent spike crossed a reset)"
        return (f"emulate_stream (Lava's timing: {int(self.carried.sum())} sample(s) received recurrent spikes "
                "from the previous one)")

    def spike_counts(self) -> dict[str, int]:
        return {k: int(v.sum()) for k, v in self.spikes.items()}

    def firing_rates(self) -> dict[str, float]:
        """Spikes per neuron per step."""
        return {k: float(v.mean()) if v.size else 0.0 for k, v in self.spikes.items()}

    def format(self) -> str:
        bsrc = self.binning_sources
        b = self.binning
        lines = [f"model: {self.model_path}",
                 f"data: {self.data_path}, {self.n_samples} sample(s)",
                 f"binning: T = {b['n_steps']} (from {bsrc['n_steps']}), duration {b['duration']:g} s "
                 f"({bsrc['duration']}), pool {b['pool']} ({bsrc['pool']}), binary {b['binary']} "
                 f"({bsrc['binary']})",
                 f"dt = {self.dt:g} s ({self.dt_source})"]
        lines += [f"note: {n}" for n in self.notes]
        lines += ["", "NIR -> Lava:", self.plan_text, "", self.network_text]
        if self.quant_report_text:
            lines += ["", self.quant_report_text]
        per = math.ceil(self.n_samples / self.replicas)
        procs = "one LIF process per decay group" if self.decays == "groups" else \
            "one LIF process per layer, per-neuron decays (simulation only)"
        lines += ["", f"Lava {self.config}: {self.replicas} replica(s) x {per} sample(s), gap {self.gap_steps} "
                      f"step(s) ({self.gap_source}), {self.lava_steps} Lava steps; {procs}",
                  f"per-sample results equal: {self.reference}",
                  f"accuracy: {self.accuracy:.4f} ({int((self.predictions == self.labels).sum())}/{self.n_samples})",
                  f"{'layer':<16} {'neurons':>7} {'spikes':>12} {'per sample':>11} {'rate/step':>10} {'rate Hz':>9}"]
        rates = self.firing_rates()
        for name in self.layer_names:
            if name not in self.spikes:
                lines.append(f"{name:<16} {self.sizes[name]:>7} {'(non-spiking readout)':>34}")
                continue
            count = self.spike_counts()[name]
            lines.append(f"{name:<16} {self.sizes[name]:>7} {count:>12,} {count / max(self.n_samples, 1):>11.1f} "
                         f"{rates[name]:>10.4f} {rates[name] / self.dt:>9.2f}")
        t = self.timing
        lines.append(f"wall time: {self.wall_time_s:.1f} s (Lava: build {t.get('build_s', 0):.1f} s, start-up "
                     f"{t.get('startup_s', 0):.1f} s, run {t.get('run_s', 0):.1f} s, stop {t.get('stop_s', 0):.1f} s, "
                     f"read {t.get('read_s', 0):.1f} s; {t.get('sample_steps_per_s', 0):,.0f} sample-steps/s steady)")
        if self.verified:
            lines.append(f"verify: bit-exact -- every spike of every layer and the readout voltage equal the "
                         f"emulator's (emulate_stream) on all {self.lava_steps} steps of {self.replicas} stream(s)")
        elif self.verified is None and self.config == "fixed_pt":
            lines.append("verify: not run (pass --verify to compare with the emulator)")
        if self.float_reference:
            fr = self.float_reference
            agree = ", ".join(f"{k} {v:.6f}" for k, v in fr["spike_agreement"].items())
            lines.append(f"float reference (SpecNetwork, float64): prediction agreement {fr['prediction_agreement']:.4f}, "
                         f"spike agreement {agree}; readout max |diff| {fr['readout_max_abs_diff']:.3g}")
        if self.results_path is not None:
            lines.append(f"results: {self.results_path}")
        return "\n".join(lines)

    def to_results(self) -> LavaResults:
        from .. import __version__

        meta = {
            "model_path": str(self.model_path), "model_sha256": self.model_sha256,
            "data_path": str(self.data_path), "data_sha256": self.data_sha256,
            "sample_indices_sha256": indices_sha256(self.sample_indices), "config": self.config,
            "replicas": int(self.replicas), "gap_steps": int(self.gap_steps), "n_steps": self.n_steps,
            "dt": float(self.dt), "binning": dict(self.binning), "layer_names": list(self.layer_names),
            "lava_version": self.lava_version, "wall_time_s": float(self.wall_time_s), "verified": self.verified,
            "created": self.created, "spikedeploy_version": __version__,
            # additive extras
            "network_source": self.network_source, "readout_mode": self.readout_mode, "decays": self.decays,
            "gap_source": self.gap_source, "reference": self.reference,
            "carried_samples": int(self.carried.sum()), "accuracy": self.accuracy,
            "stream": {"replicas": int(self.replicas), "samples_per_replica": math.ceil(self.n_samples / self.replicas),
                       "reset_interval": self.n_steps + int(self.gap_steps),
                       "order": "replica b plays samples b*n .. b*n+n-1 of sample_indices (pack_samples); "
                                "replay with lava_backend.nir_run.stream_reference"},
            "dt_source": self.dt_source, "binning_sources": dict(self.binning_sources), "notes": list(self.notes),
        }
        if self.float_reference is not None:
            meta["float_reference"] = {k: v for k, v in self.float_reference.items()}
        return LavaResults(meta=meta, sample_indices=self.sample_indices, labels=self.labels,
                           predictions=self.predictions, readout=self.readout, spikes=self.spikes,
                           readout_voltage=self.readout_voltage)


# ------------------------------------------------------------------------------------- run

def _lava_version() -> str:
    try:
        from importlib.metadata import version

        return version("lava-nc")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


def float_reference(spec: Any, x: np.ndarray, spikes: Mapping[str, np.ndarray], readout: np.ndarray,
                    predictions: np.ndarray, batch_size: int = 64) -> dict[str, Any]:
    """The float PyTorch model (SpecNetwork, float64) on the same input, against a floating_pt run."""
    import torch

    from ..models.spec_network import SpecNetwork

    model = SpecNetwork(spec, dtype=torch.float64)
    agree = {name: 0 for name in spikes}
    logits = []
    with torch.no_grad():
        for b0 in range(0, x.shape[0], batch_size):
            run = model.run(torch.as_tensor(x[b0:b0 + batch_size], dtype=torch.float64))
            for i, layer in enumerate(spec.layers):
                if layer.name in agree:
                    ref = run.outputs[i].numpy() > 0.5
                    agree[layer.name] += int((ref == spikes[layer.name][b0:b0 + batch_size]).sum())
            last = spec.layers[-1]
            logits.append(run.outputs[-1].sum(dim=1).numpy() if last.spiking else run.logits.numpy())
    ref_logits = np.concatenate(logits)
    return {"prediction_agreement": float(np.mean(ref_logits.argmax(axis=1) == predictions)),
            "spike_agreement": {k: v / max(spikes[k].size, 1) for k, v in agree.items()},
            "readout_max_abs_diff": float(np.abs(ref_logits - readout).max()) if readout.size else 0.0}


def run_nir(nir_path: str | Path, data_path: str | Path, *, samples: int | None = None, config: str = "fixed_pt",
            replicas: int | None = None, gap_steps: int | None = None, max_gap: int | None = None,
            verify: bool = False, dt: float | None = None, calibrate: str | Path | None = None,
            calib_samples: int = DEFAULT_CALIB_SAMPLES, allow_approx: bool = False, n_steps: int | None = None,
            duration: float | None = None, pool: int | None = None, binary: bool | None = None,
            out: str | Path | None = None, save_voltage: bool = False, progress: bool = False,
            decays: str = "auto", converters: Mapping[type, Any] | None = None) -> LavaRunSummary:
    """Run the NIR model ``nir_path`` on the SHD-format ``data_path`` in one Lava run.

    Args:
        nir_path: a NIR file (ours, with or without Loihi integers, or any framework's).
        data_path: an SHD-format HDF5 file (or a folder holding ``test.h5``).
        samples: run this many samples, spread evenly over the classes (default: all).
        config: ``"fixed_pt"`` (bit-accurate Loihi, default) or ``"floating_pt"`` (the
            float network, not quantised).
        replicas: copies side by side (default: one per sample within a synapse budget,
            :func:`default_replicas`).
        gap_steps: zero steps after each sample (default: the quiet gap, see the module docstring).
        max_gap: the longest gap searched (default T).
        verify: compare with the emulator (``fixed_pt`` only); VerificationError at the first difference.
        dt: the step in seconds for a graph without the project's metadata (default: the input
            frame length, duration / T); for our graphs a different dt is used with a note.
        calibrate: SHD-format file to calibrate the quantiser on when the graph holds no Loihi
            integers (default: the run's own data).
        calib_samples: calibration samples (stratified).
        allow_approx: accept NIR approximations and quantiser approximations, with warnings.
        n_steps, duration, pool, binary: binning options (default: the graph's metadata, else
            :data:`DEFAULT_BINNING`).
        out: write the results file here (atomically).
        save_voltage: put the readout voltage trace in the results file.
        progress: show tqdm progress bars.
        decays: ``"groups"`` (one LIF process per decay group: du, dv, vth shared, Lava's
            contract and Loihi's), ``"per-neuron"`` (one process per layer with per-neuron
            du, dv, vth: Lava's Python models compute it bit-exactly, Loihi would not; simulation
            only) or ``"auto"`` (groups while every layer has at most
            :data:`AUTO_MAX_DECAY_GROUPS`, else per-neuron, with a note; groups again, with a
            note, where per-neuron processes could not reproduce the emulator).
        converters: extra NIR -> Lava converters (:data:`~.convert.LAVA_CONVERTERS`).

    Raises:
        DataFormatError, ShapeMismatchError, ConversionError, ConfigError,
        QuantizationError, MissingDependencyError (Lava missing), VerificationError.
    """
    from ..data.shd import load_spikes
    from ..nir_io import graph_metadata, read_config, read_nir
    from ..nir_io.convention import KEY_CONVENTION, KEY_DT
    from ..nir_io.load import read_loihi_network
    from . import require_lava
    from .convert import convert_graph, integer_network
    from .float_net import FloatNetwork, spec_units
    from .run import run_stream, verify_bit_exact

    t_start = time.perf_counter()
    if config not in CONFIGS:
        raise ConfigError("config", f"unknown Lava configuration {config!r}", valid=CONFIGS)
    if decays not in DECAY_CHOICES:
        raise ConfigError("decays", f"unknown mode {decays!r}", valid=DECAY_CHOICES)
    if verify and config != "fixed_pt":
        raise ConfigError("--verify", "bit-exactness is defined for fixed_pt runs (the emulator is integer)",
                          remedy="drop --float to verify; a floating_pt run prints its agreement with the float "
                                 "model instead")
    for name, value in (("replicas", replicas), ("gap_steps", gap_steps), ("max_gap", max_gap)):
        if value is not None and (isinstance(value, bool) or int(value) < (1 if name == "replicas" else 0)):
            raise ConfigError(name, f"must be {'>= 1' if name == 'replicas' else '>= 0'}, got {value!r}")
    if out is not None:
        from ..atomic import check_output_path
        check_output_path(out)
    nir_path = Path(nir_path)
    graph = read_nir(nir_path)
    data_path = data_file(data_path)
    spikes = load_spikes(data_path)
    meta = graph_metadata(graph)
    ours = KEY_CONVENTION in meta
    stored_cfg = read_config(graph) or {}
    stored_net = read_loihi_network(graph)
    stored_binning = stored_cfg.get("binning")
    if stored_binning is None and stored_net is not None:
        stored_binning = (stored_net.metadata.get("calibration") or {}).get("binning")
    notes: list[str] = []

    # time step and binning
    binning, bsrc = resolve_binning(stored_binning, spikes.n_channels, n_steps=n_steps, duration=duration,
                                    pool=pool, binary=binary)
    frame = binning.duration / binning.n_steps
    graph_dt = meta.get(KEY_DT) if ours else None
    if dt is not None:
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ConfigError("dt", f"must be a positive number of seconds, got {dt!r}")
        use_dt, dt_source = float(dt), "option"
    elif graph_dt is not None:
        use_dt, dt_source = float(graph_dt), "graph metadata"
    else:
        use_dt, dt_source = frame, "assumed: the graph does not state it; one step per input frame (duration / T)"
    plan = convert_graph(graph, use_dt, strict=not allow_approx, converters=converters)
    spec = plan.spec
    notes += list(plan.notes)
    if not math.isclose(use_dt, frame, rel_tol=1e-9):
        notes.append(f"the model's dt ({use_dt:g} s) differs from the input frame length ({frame:g} s = "
                     f"{binning.duration:g} s / {binning.n_steps}); each frame is still one step")
    n_labels = int(spikes.labels.max()) + 1
    check_data_against_graph(data_path, spikes.n_channels, binning, spec.input_size, n_labels, spec.output_size)
    indices = choose_samples(spikes.labels, samples)
    if samples is not None and samples > indices.size:
        notes.append(f"asked for {samples} samples, the file has {indices.size}: running all")
    x, labels, clipped = binned_samples(spikes, binning, indices)
    if clipped:
        notes.append(f"{clipped} input entries were spike counts > 1 (binary = False); Loihi's input spikes are "
                     "binary, so they were clipped to 1")
    T = binning.n_steps
    require_lava()

    # the network
    report_text = None
    if config == "floating_pt":
        net = FloatNetwork.from_spec(spec)
        source = "float"
        if stored_net is not None:
            notes.append("floating_pt runs the graph's float network; the Loihi integers it stores are not used")
    else:
        calib_x = calib_y = None
        if stored_net is None:
            if calibrate is not None:
                cpath = data_file(calibrate, "train.h5")
                cspikes = load_spikes(cpath)
                check_data_against_graph(cpath, cspikes.n_channels, binning.replace(n_channels=cspikes.n_channels),
                                         spec.input_size, 0, spec.output_size)
                cidx = choose_samples(cspikes.labels, calib_samples)
                calib_x, calib_y, _ = binned_samples(cspikes, binning.replace(n_channels=cspikes.n_channels), cidx)
                notes.append(f"quantised here on {cidx.size} calibration sample(s) of {cpath}")
            else:
                cidx = choose_samples(spikes.labels, calib_samples)
                calib_x, calib_y, _ = binned_samples(spikes, binning, cidx)
                notes.append(f"quantised here, calibrated on {cidx.size} sample(s) of the data being run "
                             f"({data_path}; pass --calibrate DATA.h5 to use other data)")
        integer = integer_network(plan, graph, calib_x, calib_labels=calib_y, allow_approx=allow_approx,
                                  metadata={"nir_model": str(nir_path)})
        net, source = integer.net, integer.source
        if integer.report is not None:
            report_text = integer.report.format()
        if calibrate is not None and stored_net is not None:
            notes.append("the graph stores its Loihi integers: --calibrate is not used")
        if stored_net is not None and dt is not None and graph_dt is not None and float(dt) != float(graph_dt):
            notes.append(f"the stored Loihi integers were made for dt = {graph_dt:g} s: --dt changes the float "
                         "network only, not them")

    # one LIF process per decay group, or per layer
    groups = {l.name: len(l.decay_groups()) for l in net.layers}
    if decays == "auto":
        decays = "groups" if max(groups.values()) <= AUTO_MAX_DECAY_GROUPS else "per-neuron"
        if decays == "per-neuron":
            from .build import per_neuron_problem

            problem = per_neuron_problem(net)
            if problem is not None:
                decays = "groups"
                notes.append(f"one Lava process per decay group although a layer has more than "
                             f"{AUTO_MAX_DECAY_GROUPS} (slower to build): {problem}")
        if decays == "per-neuron":
            many = ", ".join(f"{k}: {v}" for k, v in groups.items() if v > AUTO_MAX_DECAY_GROUPS)
            notes.append(f"decay groups ({many}) exceed {AUTO_MAX_DECAY_GROUPS}: each layer runs as ONE Lava process "
                         "with per-neuron du/dv/vth (bit-exact in Lava's simulation, not a Loihi graph: Loihi "
                         "holds a few neuron profiles per core; cluster the decays to deploy)")

    # copies and the gap
    n = int(x.shape[0])
    B = default_replicas(net, n) if replicas is None else int(replicas)
    if gap_steps is not None:
        gap, gap_source = int(gap_steps), "option"
    elif B >= n:
        gap, gap_source = 0, "one sample per copy: nothing follows a sample"
    else:
        limit = T if max_gap is None else int(max_gap)
        if config == "fixed_pt":
            from ..quant.emulator import quiet_gap
            found = quiet_gap(net, x, max_gap=limit)
        else:
            found = float_quiet_gap(spec, x, limit)
        if found is None:
            gap, gap_source = 0, f"no quiet gap within {limit} steps: compared with emulate_stream"
        else:
            gap, gap_source = found, "quiet_gap: the recurrent layers are silent at each window's end"

    result = run_stream(net, x, gap_steps=gap, replicas=B, config=config, record_voltage="readout",
                        progress=progress, decays=decays)
    verified = None
    if verify:
        verify_bit_exact(result)       # VerificationError at the first difference
        verified = True
    per = result.per_sample()
    fixed = config == "fixed_pt"
    last = net.layers[-1]
    out_spikes = {name: per["spikes"][name].astype(bool) for name in net.layer_names if net.layer(name).spiking}
    volt = per["voltage"].get(last.name)
    if volt is not None and not fixed:
        volt = spec_units(volt)
    mode = str(net.metadata.get("readout", spec.readout))
    readout = readout_values(volt, per["spikes"][last.name], mode, last.spiking, fixed)
    predictions = readout.argmax(axis=1).astype(np.int64)
    carried = carried_samples(result)
    fref = None
    if not fixed:
        fref = float_reference(spec, x, out_spikes, readout, predictions)
    summary = LavaRunSummary(
        model_path=nir_path, data_path=data_path, config=config, network_source=source, decays=decays,
        layer_names=tuple(net.layer_names), spiking={l.name: l.spiking for l in net.layers},
        sizes={l.name: l.n_out for l in net.layers}, sample_indices=indices, labels=labels,
        predictions=predictions, readout=readout.astype(np.int64 if fixed else np.float64), readout_mode=mode,
        spikes=out_spikes, readout_voltage={last.name: volt} if (save_voltage and volt is not None) else {},
        binning=binning.to_dict(), binning_sources=bsrc, dt=use_dt, dt_source=dt_source, replicas=B,
        gap_steps=gap, gap_source=gap_source, carried=carried, lava_steps=int(result.layout.total_steps),
        timing=dict(result.timing), wall_time_s=0.0, verified=verified, plan_text=plan.describe(net, decays),
        network_text=net.summary() if hasattr(net, "summary") else _float_summary(net), notes=notes,
        quant_report_text=report_text, float_reference=fref, lava_result=result, net=net, plan=plan,
        lava_version=_lava_version(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model_sha256=file_sha256(nir_path), data_sha256=file_sha256(data_path))
    summary.wall_time_s = time.perf_counter() - t_start
    if out is not None:
        from .results import write_results

        summary.results_path = write_results(out, summary.to_results())
    return summary


def _float_summary(net: Any) -> str:
    lines = [f"float network (floating_pt, not quantised): {net.input_size} inputs"]
    for l in net.layers:
        rec = ", recurrent" if l.recurrent else ""
        kind = "LIF" if l.spiking else "readout (non-spiking)"
        lines.append(f"  {l.name}: {l.n_in} -> {l.n_out} {kind}{rec}, {len(l.decay_groups())} decay group(s)")
    return "\n".join(lines)
