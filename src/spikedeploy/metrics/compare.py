"""One deployed model, three runs, one table: float PyTorch, the bit-exact emulator and Lava.

:func:`compare_run` takes

* ``checkpoint``: the deployed float checkpoint (a LIF/CUBA-LIF network, e.g. a folded GPN);
* ``results``: the Lava results file written by ``spikedeploy lava-run`` (format in
  ``docs/formats.md``; read by :func:`spikedeploy.lava_backend.results.read_results`);
* the quantised integers: the NIR file the results' metadata names (``model_path``,
  resolved beside the results file first), or an explicit ``nir`` path; either way
  its SHA-256 must equal the results' ``model_sha256``;
* the data: the file the results' metadata names (``data_path``) or an explicit
  ``data`` file, whose SHA-256 must equal ``data_sha256``;
* optionally the GPN the checkpoint was folded from (``gpn``; ``"auto"`` reads it from
  the folded checkpoint's fold record), counted with its dense gates before folding,

and runs the same samples (the results' ``sample_indices``, binned as the results say)

* (a) through the float model, on CUDA when present, else the CPU (``device``);
* (b) through the bit-exact emulator (:func:`~spikedeploy.quant.emulator.emulate`,
  each sample on its own, aligned);
* (c) reads the Lava run's spikes and predictions from the results file,

counts all three with the same code (:func:`~spikedeploy.metrics.run_counts.count_run`),
and checks that the Lava run equals the emulator **exactly**: every spike of every
layer, the predictions, and the readout voltage when the results hold it. A
difference raises :class:`~spikedeploy.errors.VerificationError` naming the first
differing layer, sample, neuron and step. Float against quantised differences are
expected and are reported as relative differences.

Energy per inference: Loihi 1 and Loihi 2 (an estimate, labelled) from the emulator's
counts with its exact ``u``/``v`` trace (the Lava run being identical spike for spike,
its results file holds no state trace); the GPU side from the float run's counts with
the 45 nm MAC/AC model (effective operations, and dense: what a dense matrix product
performs); on a machine with an NVIDIA GPU the board's energy counter (NVML) is read
around repeated float inferences, otherwise the report says it was not measured.

Bad input: a results file of another model or data set (hash mismatch) raises
:class:`~spikedeploy.errors.ResultsMismatchError`; a missing layer trace or a
malformed file :class:`~spikedeploy.errors.DataFormatError`; an unknown chip name
:class:`~spikedeploy.errors.ConfigError` listing the known profiles.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..errors import (CheckpointError, ConfigError, DataFormatError, ResultsMismatchError,
                      ShapeMismatchError, SpikedeployError, VerificationError)
from .energy import EnergyEstimate, estimate_energy
from .nvml import GpuEnergyMeasurement
from .records import RunCounts

#: The three runs of the deployed model, in table order; "gpn" is the optional fourth
#: column (the GPN before folding).
BACKENDS = ("float", "emulator", "lava")
NOT_MEASURED = "not measured: no NVIDIA GPU"


# ----------------------------------------------------------------------------- helpers

def sha256_file(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes (the results file's own hashing)."""
    from ..lava_backend.results import file_sha256

    return file_sha256(path)


def relative_difference(reference: float | None, value: float | None) -> float | None:
    """``(value - reference) / reference``; 0 when both are 0, inf when only the reference is 0,
    None when either is missing."""
    if reference is None or value is None:
        return None
    if reference == 0:
        return 0.0 if value == 0 else math.copysign(math.inf, value)
    return (value - reference) / reference


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class CompareConfig:
    """How to compare.

    chips          neuromorphic profiles (``hardware/<name>.toml``) to estimate energy on
    gpu            the conventional profile of the GPU side (45 nm MAC/AC model)
    device         where the float model runs: ``auto`` (CUDA when present), ``cpu``, ``cuda[:N]``
    batch_size     samples per batch (float, GPN and emulator runs)
    raster_sample  which compared sample (position in the results' sample list) the raster shows
    measure_gpu    read NVML's energy counter around the float inferences when a GPU is present
    gpu_min_seconds  repeat the float inferences until the measurement lasts this long
    """

    chips: tuple[str, ...] = ("loihi1", "loihi2")
    gpu: str = "gpu"
    device: str = "auto"
    batch_size: int = 128
    raster_sample: int = 0
    measure_gpu: bool = True
    gpu_min_seconds: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "chips", tuple(self.chips))
        if not self.chips:
            raise ConfigError("compare.chips", "give at least one neuromorphic chip")
        if int(self.batch_size) < 1:
            raise ConfigError("compare.batch_size", f"must be >= 1, got {self.batch_size}")
        if int(self.raster_sample) < 0:
            raise ConfigError("compare.raster_sample", f"must be >= 0, got {self.raster_sample}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["chips"] = list(self.chips)
        return d


def check_chips(config: CompareConfig) -> None:
    """Load every profile named in ``config`` now (ConfigError listing the known chips), and
    check that the chips are neuromorphic and the GPU profile conventional."""
    from ..hardware import known_chips, load_chip

    for name in config.chips:
        prof = load_chip(name)
        if prof.kind != "neuromorphic":
            raise ConfigError("chip", f"{name!r} is a {prof.kind} profile, not a neuromorphic chip",
                              valid=[c for c in known_chips() if load_chip(c).kind == "neuromorphic"])
    prof = load_chip(config.gpu)
    if prof.kind != "conventional":
        raise ConfigError("gpu profile", f"{config.gpu!r} is a {prof.kind} profile",
                          valid=[c for c in known_chips() if load_chip(c).kind == "conventional"])


# ----------------------------------------------------------------------------- result types

@dataclass(frozen=True, eq=False)
class BackendRun:
    """One run of the model on the compared samples."""

    name: str                 # "float", "emulator", "lava", "gpn"
    label: str                # for the report, e.g. "PyTorch float (cpu)"
    counts: RunCounts
    predictions: np.ndarray   # int64 [N]
    accuracy: float
    seconds: float
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "device": self.device, "accuracy": self.accuracy,
                "seconds": self.seconds, "counts": self.counts.to_dict()}


@dataclass(frozen=True)
class LayerComparison:
    """One layer across the runs (per-sample means). ``rate`` in spikes per neuron per step
    (None for the readout); ``synops`` = effective ACs + MACs; ``*_rel`` are relative
    differences of the emulator against the float run (Lava equals the emulator exactly)."""

    name: str
    n_neurons: int
    spiking: bool
    rate: Mapping[str, float | None]
    rate_hz: Mapping[str, float | None]
    acs: Mapping[str, float]
    macs: Mapping[str, float]
    synops: Mapping[str, float]
    dense: Mapping[str, float]
    rate_rel: float | None
    synops_rel: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything :func:`compare_run` found; :mod:`spikedeploy.metrics.report` writes it out."""

    runs: Mapping[str, BackendRun]          # "float", "emulator", "lava" (+ "gpn")
    layers: tuple[LayerComparison, ...]
    energy: Mapping[str, EnergyEstimate]    # chip names, "gpu", "gpu_dense" (+ "gpn_gpu", "gpn_gpu_dense")
    gpu_measured: GpuEnergyMeasurement | None
    gpu_status: str                         # "measured" or the reason it was not
    checks: Mapping[str, Any]               # what was verified exactly
    n_samples: int
    n_steps: int
    dt: float
    inputs: Mapping[str, Any]               # paths, hashes, binning, clipped input entries
    raster: Mapping[str, Any]               # one sample: input and spikes, float and Lava
    lava_meta: Mapping[str, Any]
    config: CompareConfig
    versions: Mapping[str, str]
    seconds: float

    @property
    def chips(self) -> tuple[str, ...]:
        return self.config.chips

    def energy_ratio(self, chip: str | None = None, gpu_key: str = "gpu") -> float | None:
        """GPU estimate / chip estimate, joules per inference (how many times the chip saves)."""
        chip = chip or self.chips[0]
        chip_j = self.energy[chip].total_j
        return None if chip_j == 0 else self.energy[gpu_key].total_j / chip_j

    def to_dict(self) -> dict[str, Any]:
        ratios = {f"{g}/{c}": self.energy_ratio(c, g) for c in self.chips
                  for g in ("gpu", "gpu_dense", "gpn_gpu", "gpn_gpu_dense") if g in self.energy}
        return {
            "n_samples": self.n_samples, "n_steps": self.n_steps, "dt": self.dt,
            "accuracy": {k: r.accuracy for k, r in self.runs.items()},
            "layers": [l.to_dict() for l in self.layers],
            "energy": {k: e.to_dict() for k, e in self.energy.items()},
            "energy_ratios": ratios,
            "gpu_measured": None if self.gpu_measured is None else self.gpu_measured.to_dict(),
            "gpu_status": self.gpu_status, "checks": dict(self.checks), "inputs": dict(self.inputs),
            "runs": {k: r.to_dict() for k, r in self.runs.items()}, "lava_meta": dict(self.lava_meta),
            "config": self.config.to_dict(), "versions": dict(self.versions), "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------- resolving the inputs

def _resolve_beside(name: str | None, results_path: Path) -> Path | None:
    """A path recorded in the results: as written (absolute or relative to the current folder),
    else the same name beside the results file."""
    if not name:
        return None
    p = Path(name)
    if p.is_file():
        return p
    beside = results_path.parent / p.name
    return beside if beside.is_file() else p


def resolve_inputs(results: Any, results_path: str | Path, *, nir: str | Path | None = None,
                   data: str | Path | None = None) -> tuple[Path, Path, dict[str, str]]:
    """The NIR file and data file to use (explicit, else the paths the results record, else
    the same names beside the results file), checked against the results' recorded hashes
    (ResultsMismatchError when a file is not the one the Lava run used)."""
    from ..lava_backend.results import indices_sha256

    results_path = Path(results_path)
    nir_path = Path(nir) if nir is not None else _resolve_beside(results.meta.get("model_path"), results_path)
    if nir_path is None or not nir_path.is_file():
        raise DataFormatError(nir_path or results_path, "the quantised model (NIR file) is not found",
                              remedy="pass --nir MODEL.nir (the file lava-run ran)")
    data_path = Path(data) if data is not None else _resolve_beside(results.meta.get("data_path"), results_path)
    if data_path is None or not data_path.is_file():
        raise DataFormatError(data_path or results_path, "the data file is not found",
                              remedy="pass --data test.h5 (the file lava-run ran on)")
    results.check_source(model_path=nir_path, data_path=data_path, sample_indices=results.sample_indices,
                         path=results_path)
    return nir_path, data_path, {"model_sha256": str(results.meta["model_sha256"]),
                                 "data_sha256": str(results.meta["data_sha256"]),
                                 "sample_indices_sha256": indices_sha256(results.sample_indices)}


def _check_results_against_network(results: Any, path: Path, net: Any, n_steps: int) -> None:
    names = tuple(net.layer_names)
    if results.layer_names != names:
        raise ResultsMismatchError(path, "layer_names", list(names), list(results.layer_names))
    if results.meta.get("config") != "fixed_pt":
        raise ConfigError("results config", f"the Lava run used {results.meta.get('config')!r}; the exact "
                                            "comparison needs Lava's bit-accurate models",
                          valid=("fixed_pt",), remedy="rerun `spikedeploy lava-run` with --config fixed_pt")
    n = results.n_samples
    for layer in net.layers:
        if not layer.spiking:
            continue
        key = f"spikes__{layer.name}"
        if layer.name not in results.spikes:
            raise DataFormatError(path, f"no spike trace for layer {layer.name!r} (the file has "
                                                f"{sorted(results.spikes) or 'none'})", field=key,
                                  remedy="rerun `spikedeploy lava-run` on this model; it records every spiking layer")
        shape = results.spikes[layer.name].shape
        if shape != (n, n_steps, layer.n_out):
            raise ShapeMismatchError(f"{path} [{key}]", (n, n_steps, layer.n_out), shape)
    extra = sorted(set(results.spikes) - set(names))
    if extra:
        raise ResultsMismatchError(path, "spike traces", f"layers {list(names)}", f"also {extra}")
    if results.readout.shape != (n, net.output_size):
        raise ShapeMismatchError(f"{path} [readout]", (n, net.output_size), results.readout.shape)


def _check_checkpoint_is_nir_model(checkpoint: Path, model: Any, nir_spec: Any) -> None:
    """The float checkpoint must be the network the NIR file was exported from (same weights)."""
    from ..models.to_spec import model_to_spec

    mine = model_to_spec(model)
    names = [l.name for l in mine.layers]
    theirs = [l.name for l in nir_spec.layers]
    if names != theirs:
        raise CheckpointError(checkpoint, f"has layers {names}, the NIR file {theirs}",
                              remedy="pass the checkpoint the NIR file was exported from")
    for a, b in zip(mine.layers, nir_spec.layers):
        for fname in ("weight", "rec_weight"):
            x, y = getattr(a, fname), getattr(b, fname)
            same = (x is None and y is None) or (x is not None and y is not None and x.shape == y.shape
                                                 and np.array_equal(x, y))
            if not same:
                raise CheckpointError(checkpoint, f"layer {a.name!r} {fname} differs from the NIR file's",
                                      remedy="pass the checkpoint the NIR file was exported from "
                                             "(its 'checkpoint' entry in the NIR metadata)")


# ----------------------------------------------------------------------------- the runs

def _state_tensors(state: Any) -> tuple[torch.Tensor, ...]:
    """The state variables of a hidden layer's neuron state (u, v; the GPN's v), not its spikes."""
    if isinstance(state, torch.Tensor):
        return (state,)
    fields = getattr(state, "_fields", None)
    if fields is None:
        return tuple(state)
    return tuple(getattr(state, f) for f in fields if f not in ("s", "v_reset"))


@torch.no_grad()
def _float_batch(model: Any, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[Any], torch.Tensor]:
    """Step the SpikingNetwork through ``x``: (logits, spikes per hidden layer, states per layer
    incl. the readout, readout trace). Evaluation semantics (no dropout), as ``forward_steps``."""
    states = model.initial_state(x.shape[0], x.device, x.dtype)
    n_hidden = len(model.layers)
    spikes: list[list[torch.Tensor]] = [[] for _ in range(n_hidden)]
    st: list[list[tuple[torch.Tensor, ...]]] = [[] for _ in range(n_hidden)]
    vs = []
    for x_t in x.unbind(1):
        v, sp, states = model.step(x_t, states)
        for k in range(n_hidden):
            spikes[k].append(sp[k])
            st[k].append(_state_tensors(states[k]))
        vs.append(v)
    trace = torch.stack(vs, 1)
    reduce = model.readout.reduce
    logits = trace.amax(1) if reduce == "max" else trace[:, -1] if reduce == "last" else trace[:, -1] / x.shape[1]
    spk = [torch.stack(s, 1) for s in spikes]
    states_out = [tuple(torch.stack([s[j] for s in st[k]], 1) for j in range(len(st[k][0])))
                  for k in range(n_hidden)]
    states_out.append((trace,))
    return logits, spk, states_out, trace


def _run_float(name: str, label: str, model: Any, x: torch.Tensor, y: np.ndarray, dt: float,
               device: torch.device, batch_size: int, raster_sample: int, progress: bool
               ) -> tuple[BackendRun, dict[str, np.ndarray]]:
    from tqdm.auto import tqdm

    from .records import layers_from_model
    from .run_counts import RunCounter

    layers = layers_from_model(model)
    counter = RunCounter(layers, dt=dt)
    names = [l.name for l in layers]
    preds, raster = [], {}
    model = model.to(device).eval()
    t0 = time.perf_counter()
    for b0 in tqdm(range(0, x.shape[0], batch_size), desc=f"{name} run ({device.type})", unit="batch",
                   disable=not progress, leave=False):
        xb = x[b0:b0 + batch_size].to(device=device, dtype=torch.float32)
        logits, spikes, states, _ = _float_batch(model, xb)
        preds.append(logits.argmax(1).cpu())
        cpu = lambda t: t.detach().cpu()  # noqa: E731
        sp = {n: cpu(s) for n, s in zip(names, spikes)}
        stt = {n: tuple(cpu(t) for t in s) for n, s in zip(names, states)}
        counter.update(xb.cpu(), sp, states=stt)
        if b0 <= raster_sample < b0 + xb.shape[0]:
            raster = {n: sp[n][raster_sample - b0].numpy().astype(bool) for n in sp}
    seconds = time.perf_counter() - t0
    p = torch.cat(preds).numpy().astype(np.int64)
    return BackendRun(name, label, counter.compute(), p, float((p == y).mean()), seconds, str(device)), raster


def _emulator_batches(net: Any, xb: torch.Tensor, batch_size: int, stream: tuple[int, int] | None):
    """``(inputs, EmulatorResult)`` per batch: independent runs (``emulate``), or, with
    ``stream = (replicas, gap)``, the Lava run's own stream replayed (``stream_reference``)."""
    from ..quant.emulator import EmulatorResult, emulate

    if stream is None:
        for b0 in range(0, xb.shape[0], batch_size):
            xs = xb[b0:b0 + batch_size]
            yield xs, emulate(net, xs, record=("s", "v", "u"), on_overflow="ignore")
        return
    from ..lava_backend.nir_run import stream_reference

    res = stream_reference(net, xb.numpy(), stream[0], stream[1], record=("s", "v", "u"))
    for b0 in range(0, xb.shape[0], batch_size):
        cut = lambda d: {k: v[b0:b0 + batch_size] for k, v in d.items()}  # noqa: E731
        yield xb[b0:b0 + batch_size], EmulatorResult(res.layer_names, cut(res.spikes), cut(res.voltage),
                                                     cut(res.current), res.overflow if b0 == 0 else {})


def _run_emulator(net: Any, xb: torch.Tensor, y: np.ndarray, dt: float, batch_size: int, progress: bool,
                  stream: tuple[int, int] | None = None
                  ) -> tuple[BackendRun, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, dict[str, int]]]:
    from tqdm.auto import tqdm

    from ..quant.loihi import emulator_logits
    from .run_counts import RunCounter

    counter = RunCounter(net, dt=dt)
    spikes: dict[str, list[torch.Tensor]] = {n: [] for n in net.layer_names}
    readout_v: list[torch.Tensor] = []
    preds = []
    overflow = {n: {"a_in": 0, "readout_spikes": 0} for n in net.layer_names}
    t0 = time.perf_counter()
    batches = _emulator_batches(net, xb, batch_size, stream)
    for xs, res in tqdm(batches, total=-(-xb.shape[0] // batch_size), desc="emulator run", unit="batch",
                        disable=not progress, leave=False):
        preds.append(emulator_logits(net, res.readout).argmax(1))
        counter.update(xs, dict(res.spikes), states={n: (res.current[n], res.voltage[n]) for n in net.layer_names})
        for n in net.layer_names:
            spikes[n].append(res.spikes[n])
            for k in overflow[n]:
                overflow[n][k] += int(res.overflow.get(n, {}).get(k, 0))
        readout_v.append(res.readout)
    seconds = time.perf_counter() - t0
    p = torch.cat(preds).numpy().astype(np.int64)
    title = "bit-exact emulator (integers)" + (", Lava's stream timing" if stream is not None else "")
    run = BackendRun("emulator", title, counter.compute(), p, float((p == y).mean()), seconds, "cpu")
    return run, {n: torch.cat(v) for n, v in spikes.items()}, {net.layer_names[-1]: torch.cat(readout_v)}, overflow


def _verify_lava(results: Any, path: Path, net: Any, emu_spikes: Mapping[str, torch.Tensor],
                 emu_readout_v: Mapping[str, torch.Tensor], emu_preds: np.ndarray) -> dict[str, Any]:
    """Lava must equal the emulator exactly; raise VerificationError at the first difference."""
    from ..quant.emulator import verify_identical

    checked = []
    for layer in net.layers:
        if layer.spiking:
            verify_identical(layer.name, emu_spikes[layer.name].numpy().astype(np.int8),
                             results.spikes[layer.name].astype(np.int8))
            checked.append(f"spikes of {layer.name}")
    for name, v in results.readout_voltage.items():
        if name not in emu_readout_v:
            raise ResultsMismatchError(path, "readout voltage layers", list(emu_readout_v), name)
        mine = emu_readout_v[name].numpy()
        if tuple(v.shape) != mine.shape:
            raise ShapeMismatchError(f"{path} [readout_v__{name}]", mine.shape, v.shape)
        if results.meta.get("config") == "fixed_pt":
            verify_identical(name, mine, v.astype(np.int64))
            checked.append(f"readout voltage of {name}")
    diff = np.flatnonzero(emu_preds != results.predictions)
    if diff.size:
        i = int(diff[0])
        raise VerificationError(net.layer_names[-1] + " (prediction)", int(results.predictions[i]),
                                int(results.meta.get("n_steps", 0)) - 1, int(emu_preds[i]),
                                int(results.predictions[i]), sample=i)
    checked.append("predictions")
    return {"lava_equals_emulator": True, "checked": checked}


def _lava_counts_equal(emu: RunCounts, lava: RunCounts) -> None:
    """Spikes, rates, SynOps and sparsity of the Lava run equal the emulator's (``==``)."""
    for what in ("spikes", "synops", "sparsity", "inputs"):
        if getattr(emu, what) != getattr(lava, what):
            raise SpikedeployError(f"the Lava run's {what} counts differ from the emulator's although every "
                                   "spike is equal", remedy="report this as a bug (metrics.compare)")


def _layer_table(runs: Mapping[str, BackendRun]) -> tuple[LayerComparison, ...]:
    rows = {k: {r.name: r for r in run.counts.rows()} for k, run in runs.items()}
    out = []
    for name in runs["emulator"].counts.layers:
        per = {k: rows[k].get(name) for k in runs}
        ref, emu = per["float"], per["emulator"]
        syn = lambda r: None if r is None else r.effective_acs + r.effective_macs  # noqa: E731
        out.append(LayerComparison(
            name=name, n_neurons=emu.n_neurons, spiking=emu.spiking,
            rate={k: None if r is None else r.rate_per_step for k, r in per.items()},
            rate_hz={k: None if r is None else r.rate_hz for k, r in per.items()},
            acs={k: r.effective_acs for k, r in per.items() if r is not None},
            macs={k: r.effective_macs for k, r in per.items() if r is not None},
            synops={k: syn(r) for k, r in per.items() if r is not None},
            dense={k: r.dense_ops for k, r in per.items() if r is not None},
            rate_rel=relative_difference(ref.rate_per_step, emu.rate_per_step) if emu.spiking else None,
            synops_rel=relative_difference(syn(ref), syn(emu))))
    return tuple(out)


def _gpu_measurement(model: Any, x: torch.Tensor, device: torch.device, batch_size: int, min_seconds: float,
                     nvml: Any) -> tuple[GpuEnergyMeasurement | None, str]:
    from .nvml import gpu_energy_status, measure_gpu_energy

    if device.type != "cuda" and nvml is None:
        status = gpu_energy_status()
        if status is None:
            return None, "not measured: the float model ran on the CPU (choose the GPU with --device cuda)"
        return None, _not_measured(status)
    dev_x = x.to(device=device, dtype=torch.float32)

    @torch.no_grad()
    def once() -> None:
        for b0 in range(0, dev_x.shape[0], batch_size):
            model(dev_x[b0:b0 + batch_size])

    t0 = time.perf_counter()
    once()
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_pass = max(time.perf_counter() - t0, 1e-6)
    repeats = max(1, math.ceil(min_seconds / per_pass))

    def run() -> None:
        for _ in range(repeats):
            once()

    index = device.index or 0
    m = measure_gpu_energy(run, repeats * int(dev_x.shape[0]), device_index=index, nvml=nvml,
                           synchronize=torch.cuda.synchronize if device.type == "cuda" else None)
    if m is None:
        return None, _not_measured(gpu_energy_status(index, nvml=nvml) or "")
    return m, "measured"


def _not_measured(status: str) -> str:
    """``NOT_MEASURED`` with NVML's reason (without repeating "no NVIDIA GPU")."""
    from .nvml import NOT_AVAILABLE

    if status.startswith(NOT_AVAILABLE):
        status = status[len(NOT_AVAILABLE):].strip(" ()")
        return NOT_MEASURED + (f" ({status})" if status else "")
    return f"not measured: {status}" if status else NOT_MEASURED


def _versions(lava_meta: Mapping[str, Any]) -> dict[str, str]:
    import platform

    import nir

    from .. import __version__

    return {"spikedeploy": str(__version__), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "nir": getattr(nir, "__version__", "?"),
            "lava-nc (of the Lava run)": str(lava_meta.get("lava_version", "?")),
            "spikedeploy (of the Lava run)": str(lava_meta.get("spikedeploy_version", "?"))}


def _gpn_path(gpn: str | Path | bool | None, meta: Mapping[str, Any]) -> Path | None:
    if gpn is None or gpn is False:
        return None
    if gpn == "auto":
        fold = (meta.get("extra") or {}).get("fold")
        if (fold or {}).get("kind", "gpn") != "gpn":     # folded from s2net / pr-v2: no GPN to count
            return None
        src = (fold or {}).get("source_checkpoint")
        return Path(src) if src and Path(src).is_file() else None
    p = Path(gpn)
    if not p.is_file():
        raise CheckpointError(p, "GPN checkpoint not found", remedy="pass the GPN the model was folded from, "
                                                                    "or leave --gpn out")
    return p


# ----------------------------------------------------------------------------- the comparison

def compare_run(checkpoint: str | Path, results: str | Path, *, data: str | Path | None = None,
                nir: str | Path | None = None, gpn: str | Path | bool | None = "auto",
                config: CompareConfig = CompareConfig(), progress: bool = True, nvml: Any = None,
                log: Callable[[str], None] | None = None) -> Comparison:
    """Run the float model and the emulator on the Lava run's samples, check Lava against the
    emulator exactly, count all three and estimate their energy (module docstring).

    ``gpn``: the GPN checkpoint the model was folded from (its own cost before folding),
    ``"auto"`` (default) to take it from the folded checkpoint's record when that file
    exists, None/False for none. ``nvml``: an NVML module to use (tests inject a fake).
    """
    from ..data.shd import BinningConfig, ShdDataset
    from ..nir_io.load import nir_to_spec, read_loihi_network, read_nir
    from ..training.checkpoint import load_checkpoint
    from ..training.distributed import pick_device

    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    check_chips(config)
    checkpoint = Path(checkpoint)
    from ..lava_backend.results import read_results

    res_path = Path(results)
    res = read_results(res_path)
    nir_path, data_path, hashes = resolve_inputs(res, res_path, nir=nir, data=data)
    graph = read_nir(nir_path)
    net = read_loihi_network(graph)
    if net is None:
        how = (" (lava-run quantised the float graph on the fly; those integers are not stored)"
               if res.meta.get("network_source") == "quantized" else "")
        raise DataFormatError(nir_path, "holds no quantised (Loihi integer) network" + how,
                              remedy="export it with `spikedeploy export-nir MODEL.pt --quantized`, run lava-run "
                                     "on that file, then compare")
    n_steps = int(res.meta["n_steps"])
    _check_results_against_network(res, res_path, net, n_steps)

    model, ckpt_meta = load_checkpoint(checkpoint)
    _check_checkpoint_is_nir_model(checkpoint, model, nir_to_spec(graph))
    binning = BinningConfig.from_dict(res.meta["binning"])
    trained = ckpt_meta.get("binning")
    if trained is not None and trained.replace(n_channels=binning.n_channels) != binning:
        raise ResultsMismatchError(res_path, "binning", trained.to_dict(), binning.to_dict())
    if binning.n_steps != n_steps:
        raise ResultsMismatchError(res_path, "n_steps", binning.n_steps, n_steps)

    say(f"binning {len(res.sample_indices)} samples of {data_path} (T = {n_steps})")
    ds = ShdDataset(data_path, binning, indices=res.sample_indices, progress=False)
    x, y_t = ds.tensors()
    y = y_t.numpy().astype(np.int64)
    if not np.array_equal(y, res.labels):
        i = int(np.flatnonzero(y != res.labels)[0])
        raise ResultsMismatchError(res_path, f"labels (first difference at sample {i})", int(y[i]),
                                   int(res.labels[i]))
    if x.shape[-1] != net.input_size:
        raise ShapeMismatchError(f"features per frame of {data_path}", net.input_size, x.shape[-1])
    clipped = int((x > 1).sum())
    xb = (x > 0).to(torch.uint8)
    raster_sample = min(int(config.raster_sample), x.shape[0] - 1)
    dt = float(binning.dt)

    device = pick_device(config.device)
    say(f"float run on {device}")
    float_run, float_raster = _run_float(
        "float", f"PyTorch float ({device.type})", model, x, y, dt, device, config.batch_size, raster_sample,
        progress)
    # Lava's stream can carry recurrent spikes across a reset (a bias that fires a layer on the
    # steps before its first reset, or a sample that ends active): then the exact reference
    # is the emulator replaying Lava's stream, and the run says how many samples it touched.
    carried = int(res.meta.get("carried_samples") or 0)
    stream = (int(res.meta["replicas"]), int(res.meta["gap_steps"])) if carried else None
    say("emulator run" + (f" (Lava's stream timing: {carried} sample(s) received recurrent spikes across "
                          "their reset)" if carried else ""))
    emu_run, emu_spikes, emu_readout_v, overflow = _run_emulator(net, xb, y, dt, config.batch_size, progress,
                                                                 stream)
    say("checking the Lava run against the emulator")
    checks = _verify_lava(res, res_path, net, emu_spikes, emu_readout_v, emu_run.predictions)
    from .run_counts import count_run

    t0 = time.perf_counter()
    lava_counts = count_run(net, xb, {k: torch.from_numpy(v.astype(np.int8)) for k, v in res.spikes.items()}, dt=dt)
    emu_nostate = count_run(net, xb, {k: v for k, v in emu_spikes.items()}, dt=dt)
    _lava_counts_equal(emu_nostate, lava_counts)
    checks = {**checks, "counts_equal": ["spikes", "synops", "sparsity", "inputs"],
              "reference": (f"emulate_stream: Lava's stream, {carried} sample(s) received recurrent spikes across "
                            "their reset" if carried else "emulate: independent runs (no spike crossed a reset)")}
    lava_run = BackendRun("lava", f"Lava {res.meta.get('config')} (results file)", lava_counts,
                          res.predictions.copy(), float((res.predictions == y).mean()),
                          float(res.meta.get("wall_time_s") or 0.0), "cpu")
    runs: dict[str, BackendRun] = {"float": float_run, "emulator": emu_run, "lava": lava_run}
    count_s = time.perf_counter() - t0

    energy: dict[str, EnergyEstimate] = {}
    for chip in config.chips:
        energy[chip] = estimate_energy(emu_run.counts, chip)
    energy["gpu"] = estimate_energy(float_run.counts, config.gpu)
    energy["gpu_dense"] = estimate_energy(float_run.counts, config.gpu, basis="dense")

    gpn_path = _gpn_path(gpn, ckpt_meta)
    gpn_info = None
    if gpn_path is not None:
        gpn_model, gpn_meta = load_checkpoint(gpn_path)
        if gpn_model.config.neuron != "gpn":
            raise CheckpointError(gpn_path, f"holds a {gpn_model.config.neuron!r} network, not a GPN",
                                  remedy="pass the GPN checkpoint the model was folded from")
        if gpn_model.config.input_size != model.config.input_size:
            raise ShapeMismatchError(f"input size of {gpn_path}", model.config.input_size,
                                     gpn_model.config.input_size)
        say(f"GPN before folding: {gpn_path}")
        gpn_run, _ = _run_float("gpn", f"GPN before folding, PyTorch float ({device.type})", gpn_model, x, y, dt,
                                device, config.batch_size, raster_sample, progress)
        runs["gpn"] = gpn_run
        energy["gpn_gpu"] = estimate_energy(gpn_run.counts, config.gpu)
        energy["gpn_gpu_dense"] = estimate_energy(gpn_run.counts, config.gpu, basis="dense")
        gpn_info = {"path": str(gpn_path), "sha256": sha256_file(gpn_path)}

    layers = _layer_table(runs)
    measured, status = (None, NOT_MEASURED + " (measurement switched off)")
    if config.measure_gpu:
        measured, status = _gpu_measurement(model, x, device, config.batch_size, config.gpu_min_seconds, nvml)

    raster = {"sample": raster_sample, "sample_index": int(res.sample_indices[raster_sample]),
              "label": int(y[raster_sample]), "input": x[raster_sample].numpy(),
              "float": float_raster,
              "lava": {k: v[raster_sample].astype(bool) for k, v in res.spikes.items()},
              "predictions": {k: int(r.predictions[raster_sample]) for k, r in runs.items()}}
    inputs = {"checkpoint": str(checkpoint), "checkpoint_sha256": sha256_file(checkpoint),
              "nir": str(nir_path), "data": str(data_path), "results": str(res_path),
              "results_sha256": sha256_file(res_path), **hashes, "gpn": gpn_info,
              "binning": binning.to_dict(), "input_entries_clipped": clipped,
              "emulator_overflow": overflow, "device": str(device), "count_seconds": count_s,
              "checkpoint_metrics": {k: v for k, v in (ckpt_meta.get("metrics") or {}).items() if k != "history"},
              "fold": _fold_summary(ckpt_meta)}
    return Comparison(runs=runs, layers=layers, energy=energy, gpu_measured=measured, gpu_status=status,
                      checks=checks, n_samples=int(x.shape[0]), n_steps=n_steps, dt=dt, inputs=inputs,
                      raster=raster, lava_meta=dict(res.meta), config=config, versions=_versions(res.meta),
                      seconds=time.perf_counter() - t_start)


def _fold_summary(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    fold = (meta.get("extra") or {}).get("fold")
    if not fold:
        return None
    acc = fold.get("accuracy") or {}
    return {"source_checkpoint": fold.get("source_checkpoint"),
            "test_accuracy": {stage: (d.get("test") or {}).get("acc") for stage, d in acc.items()}}


__all__ = ["BACKENDS", "BackendRun", "CompareConfig", "Comparison", "LayerComparison", "NOT_MEASURED",
           "check_chips", "compare_run", "relative_difference", "resolve_inputs", "sha256_file"]
