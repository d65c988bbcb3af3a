"""The lava-run stage: a NIR model on an SHD-format data set in Lava (``spikedeploy lava-run``).

:func:`lava_run` reads the graph (any framework's, through :mod:`spikedeploy.lava_backend.convert`'s
registry), bins the data as the graph's metadata says (or as the options say), gets the
network Lava runs -- the integers stored in the graph, the float network quantised
here on calibration data, or, with ``config="floating_pt"``, the float network
itself -- and streams every sample through ONE Lava run
(:func:`spikedeploy.lava_backend.run.run_stream`: ``LIFReset`` between samples,
resets offset by layer depth, ``replicas`` copies side by side), then reads the
predictions, spike trains and readout back, aligned to the input.

**Gap and reference (the stream rule, ``docs/fixed-point.md``).** The only thing a
sample can pass to the next in a Lava stream is the recurrent Dense's last spikes.
Unless ``gap_steps`` is given, the gap is the smallest one after which every
recurrent layer is silent for these samples (``quiet_gap`` on the integer network;
the float network's own run for ``floating_pt``). After the run the carried spikes
are counted from Lava's own recordings (:func:`~spikedeploy.lava_backend.stream.carried_samples`);
with none, every sample's window equals an independent run (``emulate``), otherwise the exact
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping

import nir
import numpy as np

from .. import __version__
from ..atomic import check_outputs
from ..data.gsc import data_sha256, is_gsc_folder
from ..data.sampling import binary_frames, choose_samples, data_file
from ..data.shd import BinningConfig, SpikeSet, load_spikes
from ..errors import ConfigError, ShapeMismatchError
from ..hashing import file_sha256, indices_sha256
from ..lava_backend import require_lava
from ..lava_backend.adapters import CONFIGS, LavaNetwork, lava_network
from ..lava_backend.convert import LavaPlan, convert_graph, integer_network
from ..lava_backend.results import LavaResults, write_results
from ..lava_backend.run import LavaRunResult, run_stream, verify_bit_exact
from ..lava_backend.stream import (DECAY_CHOICES, carried_samples, choose_decays, default_replicas, float_quiet_gap,
                                   float_reference, readout_values)
from ..memory import require
from ..netspec import NetworkSpec
from ..nir_io import graph_metadata, read_config
from ..nir_io.convention import KEY_CONVENTION, KEY_DT, KEY_QUANTIZED_FROM
from ..nir_io.load import read_loihi_network
from ..nir_io.producers import PRODUCERS, read_as, read_foreign_nir
from ..quant.emulator import quiet_gap
from ..quant.graded_input import encode_recorded
from ..quant.loihi_network import LoihiNetwork
from ..training.gsc_data import gsc_samples

#: Binning assumed for a graph without the project's metadata (and no options): one feature per
#: data channel (a data file with more channels than the graph's inputs is refused, naming --pool).
DEFAULT_BINNING = {"n_steps": 100, "duration": 1.0, "binary": True, "pool": 1}
#: Calibration samples drawn when the graph must be quantised here.
DEFAULT_CALIB_SAMPLES = 256


# ------------------------------------------------------------------------------------- options

@dataclass(frozen=True)
class BinningChoice:
    """Binning fields given as options; None: the graph's metadata, else :data:`DEFAULT_BINNING`."""

    n_steps: int | None = None
    duration: float | None = None
    pool: int | None = None
    binary: bool | None = None


@dataclass(frozen=True)
class LavaRunOptions:
    """How to run the NIR model ``model`` on the SHD-format ``data`` in Lava.

    model         a NIR file (ours, with or without Loihi integers, or any framework's)
    data          an SHD-format HDF5 file (or a folder holding ``test.h5``), or a GSC folder for a graph
                  with graded input (``export-nir --graded-input``): its testing split's features
    samples       run this many samples, spread evenly over the classes (None: all)
    config        ``"fixed_pt"`` (bit-accurate Loihi) or ``"floating_pt"`` (the float network)
    replicas      copies side by side (None: one per sample within a synapse budget,
                  :func:`~spikedeploy.lava_backend.stream.default_replicas`)
    gap_steps     zero steps after each sample (None: the quiet gap, module docstring)
    max_gap       the longest gap searched (None: T)
    verify        compare with the emulator (``fixed_pt`` only); VerificationError at the first difference
    dt            the step in seconds for a graph without the project's metadata (None: the input frame
                  length, duration / T); for our graphs a different dt is used with a note
    calibrate     SHD-format file to calibrate the quantiser on when the graph holds no Loihi
                  integers (None: the run's own data)
    calib_samples calibration samples (stratified)
    allow_approx  accept NIR approximations and quantiser approximations, with warnings
    binning       binning options (:class:`BinningChoice`)
    out           write the results file here (atomically)
    save_voltage  put the readout voltage trace in the results file
    decays        ``"groups"`` (one LIF process per decay group: du, dv, vth shared, Lava's contract
                  and Loihi's), ``"per-neuron"`` (one process per layer, simulation only) or ``"auto"``
                  (:func:`~spikedeploy.lava_backend.stream.choose_decays`)
    converters    extra NIR -> Lava converters (:data:`~spikedeploy.lava_backend.convert.LAVA_CONVERTERS`)
    producer      whose convention the graph follows (:mod:`spikedeploy.nir_io.producers`; None: detected;
                  ``"nir"``: read as written); norse's: ``dt`` is norse's own step
    """

    model: Path
    data: Path
    samples: int | None = None
    config: str = "fixed_pt"
    replicas: int | None = None
    gap_steps: int | None = None
    max_gap: int | None = None
    verify: bool = False
    dt: float | None = None
    calibrate: Path | None = None
    calib_samples: int = DEFAULT_CALIB_SAMPLES
    allow_approx: bool = False
    binning: BinningChoice = BinningChoice()
    out: Path | None = None
    save_voltage: bool = False
    decays: str = "auto"
    progress: bool = False
    converters: Mapping[type, Any] | None = None
    producer: str | None = None

    def __post_init__(self) -> None:
        if self.producer is not None and self.producer not in PRODUCERS:
            raise ConfigError("producer", f"unknown producer {self.producer!r}", valid=tuple(PRODUCERS))
        if self.config not in CONFIGS:
            raise ConfigError("config", f"unknown Lava configuration {self.config!r}", valid=CONFIGS)
        if self.decays not in DECAY_CHOICES:
            raise ConfigError("decays", f"unknown mode {self.decays!r}", valid=DECAY_CHOICES)
        if self.verify and self.config != "fixed_pt":
            raise ConfigError("--verify", "bit-exactness is defined for fixed_pt runs (the emulator is integer)",
                              remedy="drop --float to verify; a floating_pt run prints its agreement with the float "
                                     "model instead")
        for name in ("replicas", "gap_steps", "max_gap"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) < (1 if name == "replicas" else 0)):
                raise ConfigError(name, f"must be {'>= 1' if name == 'replicas' else '>= 0'}, got {value!r}")
        dt = self.dt
        if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ConfigError("dt", f"must be a positive number of seconds, got {dt!r}")


def resolve_binning(stored: Mapping[str, Any] | None, n_channels: int, *,
                    n_steps: int | None = None, duration: float | None = None, pool: int | None = None,
                    binary: bool | None = None) -> tuple[Any, dict[str, str]]:
    """The BinningConfig for the data: each field from the option, else the graph's stored
    binning, else :data:`DEFAULT_BINNING`. Returns ``(binning, {field: "option" |
    "graph metadata" | "assumed (default)"})``."""
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
    net: Any = None                        # LoihiNetwork, or the NetworkSpec of a floating_pt run
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
        lines += ["outputs not graded: binary spikes between layers (Loihi 1's datapath, which Loihi 2 runs too; "
                  "graded spikes between layers: fold --target loihi2)"]
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
                                "replay with quant.emulator.stream_reference"},
            "dt_source": self.dt_source, "binning_sources": dict(self.binning_sources), "notes": list(self.notes),
        }
        if self.float_reference is not None:
            meta["float_reference"] = {k: v for k, v in self.float_reference.items()}
        return LavaResults(meta=meta, sample_indices=self.sample_indices, labels=self.labels,
                           predictions=self.predictions, readout=self.readout, spikes=self.spikes,
                           readout_voltage=self.readout_voltage)


# ------------------------------------------------------------------------------------- run

@dataclass(frozen=True, eq=False)
class _Inputs:
    """The graph, read and converted, and the samples, binned as it says."""

    graph: nir.NIRGraph
    plan: LavaPlan
    stored_net: LoihiNetwork | None
    data_path: Path
    spikes: SpikeSet | None         # None: a GSC folder's features (graded input)
    binning: BinningConfig
    binning_sources: dict[str, str]
    dt: float
    dt_source: str
    graph_dt: float | None
    indices: np.ndarray
    x: np.ndarray
    labels: np.ndarray
    notes: tuple[str, ...]          # what reading the graph and the data assumed


def _time_step(options: LavaRunOptions, graph_dt: float | None, frame: float,
               graph_source: str = "graph metadata") -> tuple[float, str]:
    if options.dt is not None:
        return float(options.dt), "option"
    if graph_dt is not None:
        return float(graph_dt), graph_source
    return frame, "assumed: the graph does not state it; one step per input frame (duration / T)"


def _read_inputs(options: LavaRunOptions) -> _Inputs:
    """Read the graph and the data, choose the binning and the time step, convert the graph."""
    graph, read_notes = read_foreign_nir(Path(options.model))
    if is_gsc_folder(options.data):
        return _gsc_inputs(options, graph, read_notes)
    data_path = data_file(options.data)
    spikes = load_spikes(data_path)
    meta = graph_metadata(graph)
    ours = KEY_CONVENTION in meta
    stored_net = read_loihi_network(graph)
    stored_binning = (read_config(graph) or {}).get("binning")
    if stored_binning is None and stored_net is not None:
        stored_binning = (stored_net.metadata.get("calibration") or {}).get("binning")
    b = options.binning
    binning, bsrc = resolve_binning(stored_binning, spikes.n_channels, n_steps=b.n_steps, duration=b.duration,
                                    pool=b.pool, binary=b.binary)
    frame = binning.duration / binning.n_steps
    graph_dt = meta.get(KEY_DT) if ours else None
    produced: tuple[str, ...] = ()
    source = "graph metadata"
    if not ours:
        reading = read_as(graph, options.producer, options.dt)
        graph, graph_dt, produced = reading.graph, reading.dt, reading.notes
        source = f"{reading.producer}'s convention"
    dt, dt_source = _time_step(options, graph_dt, frame, source)
    plan = convert_graph(graph, dt, strict=not options.allow_approx, converters=options.converters)
    notes = [*read_notes, *produced, *plan.notes]
    if stored_net is not None and KEY_QUANTIZED_FROM not in meta:
        notes.append("the graph does not record which float parameters its Loihi integers were made from "
                     "(written before spikedeploy stored that): they are used without that check")
    if not math.isclose(dt, frame, rel_tol=1e-9):
        notes.append(f"the model's dt ({dt:g} s) differs from the input frame length ({frame:g} s = "
                     f"{binning.duration:g} s / {binning.n_steps}); each frame is still one step")
    spec = plan.spec
    indices, x, labels, frame_notes = sample_frames(data_path, spikes, binning, spec.input_size, spec.output_size,
                                                  options.samples)
    notes += frame_notes
    return _Inputs(graph, plan, stored_net, data_path, spikes, binning, bsrc, dt, dt_source, graph_dt, indices, x,
                   labels, tuple(notes))


def sample_frames(data_path: Path, spikes: SpikeSet, binning: Any, input_size: int, output_size: int,
                samples: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The samples to run, binned as binary frames: ``(indices, x [N, T, in], labels, notes)``, after
    checking the data against the network (channels, classes) and that the frames fit in memory."""
    check_data_against_graph(data_path, spikes.n_channels, binning, input_size, int(spikes.labels.max()) + 1,
                             output_size)
    indices = choose_samples(spikes.labels, samples)
    frames = indices.size * binning.n_steps * input_size
    require({"binned frames": frames, "frame edges": (binning.n_steps + 1) * 8, "Lava's input stream": 4 * frames},
            "--time-steps / --samples", remedy="run fewer time steps (--time-steps) or fewer samples (--samples)")
    notes = []
    if samples is not None and samples > indices.size:
        notes.append(f"asked for {samples} samples, the file has {indices.size}: running all")
    x, labels, clipped = binary_frames(spikes, binning, indices)
    if clipped:
        notes.append(f"{clipped} input entries were spike counts > 1 (binary = False); Loihi's input spikes are "
                     "binary, so they were clipped to 1")
    return indices, x, labels, notes


def _gsc_inputs(options: LavaRunOptions, graph: nir.NIRGraph, read_notes: list[str]) -> _Inputs:
    """A GSC folder's test clips as the graph's graded input payloads: s2net's features,
    standardised and encoded as the exporter recorded (``export-nir --graded-input``)."""
    stored = read_loihi_network(graph)
    if stored is None or not stored.graded_input:
        raise ConfigError("--data", f"{options.data} is a GSC folder: its features are real-valued, and this graph "
                          "takes spikes", remedy="export the checkpoint with --quantized --graded-input 8 "
                          "--data GSC_DIR, or pass SHD-format spikes")
    meta = graph_metadata(graph)
    dt = float(options.dt if options.dt is not None else meta.get(KEY_DT, 0.01))
    plan = convert_graph(graph, dt, strict=not options.allow_approx, converters=options.converters)
    spec_meta = plan.spec.metadata
    words = tuple(((read_config(graph) or {}).get("model") or {}).get("words") or ())
    frames, labels, indices = gsc_samples(options.data, "testing", words, options.samples)
    x = encode_recorded(frames, spec_meta, stored.input_bits)
    binning = BinningConfig(n_steps=x.shape[1], duration=x.shape[1] * dt, binary=False, pool=1,
                            n_channels=plan.spec.input_size)
    source = "GSC features (10 ms hop)"
    notes = [*read_notes, *plan.notes, f"GSC folder: the testing split's log-Mel features, standardised and sent as "
             f"{stored.input_bits}-bit graded input spikes (scale {float(spec_meta['input_scale']):.4g})"]
    return _Inputs(graph, plan, stored, Path(options.data), None, binning,
                   {k: source for k in ("n_steps", "duration", "pool", "binary")}, dt, "graph metadata",
                   meta.get(KEY_DT), indices, x, labels, tuple(notes))


def _calibration(options: LavaRunOptions, inp: _Inputs) -> tuple[np.ndarray, np.ndarray, str]:
    """Calibration samples for quantising here: ``(x, labels, note)``."""
    spec, binning = inp.plan.spec, inp.binning
    if options.calibrate is not None:
        cpath = data_file(options.calibrate, "train.h5")
        cspikes = load_spikes(cpath)
        cbinning = binning.replace(n_channels=cspikes.n_channels)
        check_data_against_graph(cpath, cspikes.n_channels, cbinning, spec.input_size, 0, spec.output_size)
        cidx = choose_samples(cspikes.labels, options.calib_samples)
        x, y, _ = binary_frames(cspikes, cbinning, cidx)
        return x, y, f"quantised here on {cidx.size} calibration sample(s) of {cpath}"
    cidx = choose_samples(inp.spikes.labels, options.calib_samples)
    x, y, _ = binary_frames(inp.spikes, binning, cidx)
    return x, y, (f"quantised here, calibrated on {cidx.size} sample(s) of the data being run "
                  f"({inp.data_path}; pass --calibrate DATA.h5 to use other data)")


def _network(options: LavaRunOptions, inp: _Inputs) -> tuple[LoihiNetwork | NetworkSpec, str, str | None, list[str]]:
    """``(network, source, quantisation report, notes)``: the float spec (``floating_pt``), the
    graph's stored integers, or the float network quantised here."""
    if options.config == "floating_pt":
        notes = [] if inp.stored_net is None else [
            "floating_pt runs the graph's float network; the Loihi integers it stores are not used"]
        return inp.plan.spec, "float", None, notes
    notes = []
    calib_x = calib_y = None
    if inp.stored_net is None:
        calib_x, calib_y, note = _calibration(options, inp)
        notes.append(note)
    integer = integer_network(inp.plan, inp.graph, calib_x, calib_labels=calib_y, allow_approx=options.allow_approx,
                              metadata={"nir_model": str(options.model)})
    if options.calibrate is not None and inp.stored_net is not None:
        notes.append("the graph stores its Loihi integers: --calibrate is not used")
    dt, graph_dt = options.dt, inp.graph_dt
    if inp.stored_net is not None and dt is not None and graph_dt is not None and float(dt) != float(graph_dt):
        notes.append(f"the stored Loihi integers were made for dt = {graph_dt:g} s: --dt changes the float "
                     "network only, not them")
    return integer.net, integer.source, None if integer.report is None else integer.report.format(), notes


def _stream_plan(options: LavaRunOptions, net: LoihiNetwork | NetworkSpec, x: np.ndarray) -> tuple[int, int, str]:
    """``(replicas, gap, where the gap came from)`` (module docstring)."""
    n = int(x.shape[0])
    replicas = default_replicas(net, n) if options.replicas is None else int(options.replicas)
    if options.gap_steps is not None:
        return replicas, int(options.gap_steps), "option"
    if replicas >= n:
        return replicas, 0, "one sample per copy: nothing follows a sample"
    limit = x.shape[1] if options.max_gap is None else int(options.max_gap)
    found = quiet_gap(net, x, max_gap=limit) if options.config == "fixed_pt" else float_quiet_gap(net, x, limit)
    if found is None:
        return replicas, 0, f"no quiet gap within {limit} steps: compared with emulate_stream"
    return replicas, found, "quiet_gap: the recurrent layers are silent at each window's end"


def lava_run(options: LavaRunOptions) -> LavaRunSummary:
    """Run the NIR model on the data in one Lava run (module docstring).

    Raises:
        DataFormatError, ShapeMismatchError, ConversionError, ConfigError,
        QuantizationError, MissingDependencyError (Lava missing), VerificationError.
    """
    t_start = time.perf_counter()
    check_outputs({"results file (--out)": options.out},
                  {"model": options.model,
                   "data (--data)": Path(options.data) if is_gsc_folder(options.data) else data_file(options.data),
                   "calibration data (--calibrate)": None if options.calibrate is None else
                   data_file(options.calibrate, "train.h5")})
    inp = _read_inputs(options)
    require_lava()
    net, source, report_text, net_notes = _network(options, inp)
    lava = lava_network(net, options.config)
    decays, decay_notes = choose_decays(lava, options.decays)
    notes = [*inp.notes, *net_notes, *decay_notes]
    replicas, gap, gap_source = _stream_plan(options, net, inp.x)
    result = run_stream(net, inp.x, gap_steps=gap, replicas=replicas, config=options.config,
                        record_voltage="readout", progress=options.progress, decays=decays)
    verified = None
    if options.verify:
        verify_bit_exact(result)       # VerificationError at the first difference
        verified = True
    summary = _summarize(options, inp, net, lava, result, source=source, decays=decays, replicas=replicas, gap=gap,
                         gap_source=gap_source, verified=verified, report_text=report_text, notes=notes)
    summary.wall_time_s = time.perf_counter() - t_start
    if options.out is not None:
        summary.results_path = write_results(options.out, summary.to_results())
    return summary


def _summarize(options: LavaRunOptions, inp: _Inputs, net: LoihiNetwork | NetworkSpec, lava: LavaNetwork,
               result: LavaRunResult, *, source: str, decays: str, replicas: int, gap: int, gap_source: str,
               verified: bool | None, report_text: str | None, notes: list[str]) -> LavaRunSummary:
    """Read the run back: aligned spikes, the readout, predictions, and everything it assumed."""
    fixed = options.config == "fixed_pt"
    per = result.per_sample()
    last = lava.layers[-1]
    out_spikes = {l.name: per["spikes"][l.name].astype(bool) for l in lava.layers if l.spiking}
    volt = per["voltage"].get(last.name)
    spec = inp.plan.spec
    mode = str(net.metadata.get("readout", spec.readout)) if fixed else spec.readout
    readout = readout_values(volt, per["spikes"][last.name], mode, last.spiking, fixed)
    predictions = readout.argmax(axis=1).astype(np.int64)
    fref = None if fixed else float_reference(spec, inp.x, out_spikes, readout, predictions)
    return LavaRunSummary(
        model_path=Path(options.model), data_path=inp.data_path, config=options.config, network_source=source,
        decays=decays, layer_names=lava.layer_names, spiking={l.name: l.spiking for l in lava.layers},
        sizes={l.name: l.n_out for l in lava.layers}, sample_indices=inp.indices, labels=inp.labels,
        predictions=predictions, readout=readout.astype(np.int64 if fixed else np.float64), readout_mode=mode,
        spikes=out_spikes, readout_voltage={last.name: volt} if (options.save_voltage and volt is not None) else {},
        binning=inp.binning.to_dict(), binning_sources=inp.binning_sources, dt=inp.dt, dt_source=inp.dt_source,
        replicas=replicas, gap_steps=gap, gap_source=gap_source, carried=carried_samples(result),
        lava_steps=int(result.layout.total_steps), timing=dict(result.timing), wall_time_s=0.0, verified=verified,
        plan_text=inp.plan.describe(lava, decays),
        network_text=net.summary() if fixed else _float_summary(lava), notes=notes,
        quant_report_text=report_text, float_reference=fref, lava_result=result, net=net, plan=inp.plan,
        lava_version=_lava_version(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model_sha256=file_sha256(options.model),
        data_sha256=data_sha256(inp.data_path))


def _lava_version() -> str:
    try:
        return version("lava-nc")
    except PackageNotFoundError:  # pragma: no cover - metadata missing
        return "unknown"


def _float_summary(net: LavaNetwork) -> str:
    lines = [f"float network (floating_pt, not quantised): {net.input_size} inputs"]
    for l in net.layers:
        rec = ", recurrent" if l.recurrent else ""
        kind = "LIF" if l.spiking else "readout (non-spiking)"
        lines.append(f"  {l.name}: {l.weight.shape[1]} -> {l.n_out} {kind}{rec}, "
                     f"{len(l.decay_groups())} decay group(s)")
    return "\n".join(lines)
