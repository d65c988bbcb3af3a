"""The compare stage: one deployed model, three runs, one table: float PyTorch, the bit-exact
emulator and Lava, and the report.

:func:`compare` takes (:class:`CompareOptions`)

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

counts all three with the same code (:mod:`spikedeploy.metrics.backend_runs`),
and checks that the Lava run equals the emulator **exactly**: every spike of every
layer, the predictions, and the readout voltage when the results hold it. A
difference raises :class:`~spikedeploy.errors.VerificationError` naming the first
differing layer, sample, neuron and step. Float against quantised differences are
expected and are reported as relative differences.

Energy per inference, two ways. Operations: Loihi 1 and Loihi 2 (an estimate, labelled)
from the emulator's counts with its exact ``u``/``v`` trace (the Lava run being identical
spike for spike, its results file holds no state trace); the arithmetic of the float run
at 45 nm (effective operations, and dense), a lower bound. Devices
(:mod:`spikedeploy.metrics.targets`): each chip's operations plus its per-step and static
costs, on the cores ``map`` gives it; each conventional device model streamed at batch 1
(and the GPUs batched); on a machine with an NVIDIA GPU the board's energy counter (NVML)
is read around repeated float inferences, otherwise the report says it was not measured.

With ``options.out`` the report folder is written (:func:`spikedeploy.metrics.report.write_report`).

Bad input: a results file of another model or data set (hash mismatch) raises
:class:`~spikedeploy.errors.ResultsMismatchError`; a missing layer trace or a
malformed file :class:`~spikedeploy.errors.DataFormatError`; an unknown chip name
:class:`~spikedeploy.errors.ConfigError` listing the known profiles.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import nir
import numpy as np
import torch

from .. import __version__
from ..atomic import check_outputs
from ..data.gsc import is_gsc_folder
from ..data.shd import BinningConfig, ShdDataset
from ..errors import (CheckpointError, ConfigError, DataFormatError, ResultsMismatchError, ShapeMismatchError,
                      SpikedeployError, VerificationError)
from ..fold.s2net_conv import conv_to_spec
from ..hashing import file_sha256, indices_sha256
from ..lava_backend.mapping import map_network
from ..lava_backend.results import LavaResults, read_results
from ..metrics.backend_runs import check_counts_equal, layer_table, measure_gpu, run_emulator, run_float
from ..metrics.comparison import NOT_MEASURED, BackendRun, CompareConfig, Comparison, check_chips
from ..metrics.energy import EnergyEstimate, estimate_energy
from ..metrics.report import FILES as REPORT_FILES
from ..metrics.report import energy_headline, fmt_energy, write_report
from ..metrics.run_counts import count_run
from ..metrics.source_ops import SourceOps, count_source_ops, recurrent_baseline_ops
from ..metrics.targets import energy_targets
from ..models.conv import ConvSpikingNetwork
from ..models.networks import SpikingNetwork
from ..models.to_spec import model_to_spec
from ..nir_io.load import nir_to_spec, read_loihi_network, read_nir
from ..quant.emulator import verify_identical
from ..quant.graded_input import encode_recorded, payload_spec
from ..quant.loihi_network import LoihiNetwork
from ..training.checkpoint import load_checkpoint
from ..training.distributed import pick_device
from ..training.gsc_data import gsc_samples
from .baselines import read_baselines


@dataclass(frozen=True)
class CompareOptions:
    """What to compare and where the report goes.

    checkpoint  the deployed float checkpoint (the one export-nir read)
    results     the Lava results file (``spikedeploy lava-run --out``)
    data        the data file Lava ran on (None: the path the results record)
    nir         the quantised NIR file Lava ran (None: the path the results record, else the same
                name beside the results file)
    gpn         the GPN the model was folded from, counted before folding: a path, ``"auto"``
                (the one the folded checkpoint records, when that file exists) or None
    config      how to compare (:class:`~spikedeploy.metrics.comparison.CompareConfig`)
    baselines   a baselines JSON (:mod:`.baselines`): the GRU / LSTM accuracies shown beside their
                multiplications (None: their operations only)
    out         write the report folder here (None: no report)
    title, command, extra   the report's title, the command line and extra provenance
    threads     torch CPU threads (None: torch's own choice)
    """

    checkpoint: Path
    results: Path
    data: Path | None = None
    nir: Path | None = None
    gpn: Path | str | None = "auto"
    config: CompareConfig = CompareConfig()
    baselines: Path | None = None
    out: Path | None = None
    title: str | None = None
    command: str | None = None
    extra: Mapping[str, Any] | None = None
    threads: int | None = None
    progress: bool = True


@dataclass(frozen=True, eq=False)
class CompareResult:
    comparison: Comparison
    report: Path | None          # report.md (None without ``out``)


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
    results_path = Path(results_path)
    nir_path = Path(nir) if nir is not None else _resolve_beside(results.meta.get("model_path"), results_path)
    if nir_path is None or not nir_path.is_file():
        raise DataFormatError(nir_path or results_path, "the quantised model (NIR file) is not found",
                              remedy="pass --nir MODEL.nir (the file lava-run ran)")
    data_path = Path(data) if data is not None else _resolve_beside(results.meta.get("data_path"), results_path)
    if data_path is not None and not data_path.is_file() and is_gsc_folder(data_path):
        pass                                                    # a GSC folder (graded input)
    elif data_path is None or not data_path.is_file():
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
    if isinstance(model, ConvSpikingNetwork):
        graded = "input_scale" in nir_spec.metadata          # exported with --graded-input
        mine = conv_to_spec(model, 1e-3, standardise="host" if graded else "fold")
        if graded:
            mine = payload_spec(mine, float(nir_spec.metadata["input_scale"]), int(nir_spec.metadata["input_bits"]))
    else:
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


def _verify_lava(results: Any, path: Path, net: Any, emu_spikes: Mapping[str, torch.Tensor],
                 emu_readout_v: Mapping[str, torch.Tensor], emu_preds: np.ndarray) -> dict[str, Any]:
    """Lava must equal the emulator exactly; raise VerificationError at the first difference."""
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


def _versions(lava_meta: Mapping[str, Any]) -> dict[str, str]:
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

@dataclass(frozen=True, eq=False)
class _Inputs:
    """The checked inputs of one comparison."""

    results: LavaResults
    results_path: Path
    nir_path: Path
    data_path: Path
    hashes: Mapping[str, str]
    net: LoihiNetwork
    model: SpikingNetwork | ConvSpikingNetwork
    meta: Mapping[str, Any]
    binning: BinningConfig
    n_steps: int


def _load_inputs(options: CompareOptions) -> _Inputs:
    """Read the results, the NIR file, the checkpoint; check that they belong together."""
    res_path = Path(options.results)
    res = read_results(res_path)
    nir_path, data_path, hashes = resolve_inputs(res, res_path, nir=options.nir, data=options.data)
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
    checkpoint = Path(options.checkpoint)
    model, ckpt_meta = load_checkpoint(checkpoint)
    _check_checkpoint_is_nir_model(checkpoint, model, nir_to_spec(graph))
    binning = BinningConfig.from_dict(res.meta["binning"])
    trained = ckpt_meta.get("binning")
    if trained is not None and trained.replace(n_channels=binning.n_channels) != binning:
        raise ResultsMismatchError(res_path, "binning", trained.to_dict(), binning.to_dict())
    if binning.n_steps != n_steps:
        raise ResultsMismatchError(res_path, "n_steps", binning.n_steps, n_steps)
    return _Inputs(res, res_path, nir_path, data_path, hashes, net, model, ckpt_meta, binning, n_steps)


def _samples(inp: _Inputs, say: Callable[[str], None]) -> tuple[torch.Tensor, np.ndarray]:
    """The Lava run's samples binned as it binned them: ``(frames [N, T, F], labels [N])``; from a
    GSC folder its testing clips' features (real-valued, as the float model reads them)."""
    res = inp.results
    if is_gsc_folder(inp.data_path):
        say(f"features of {len(res.sample_indices)} testing clips of {inp.data_path}")
        words = tuple(getattr(inp.model.config, "words", ()))
        frames, y, _ = gsc_samples(inp.data_path, "testing", words, None, indices=res.sample_indices)
        x = torch.as_tensor(frames)
    else:
        say(f"binning {len(res.sample_indices)} samples of {inp.data_path} (T = {inp.n_steps})")
        x, y_t = ShdDataset(inp.data_path, inp.binning, indices=res.sample_indices, progress=False).tensors()
        y = y_t.numpy().astype(np.int64)
    if not np.array_equal(y, res.labels):
        i = int(np.flatnonzero(y != res.labels)[0])
        raise ResultsMismatchError(inp.results_path, f"labels (first difference at sample {i})", int(y[i]),
                                   int(res.labels[i]))
    if x.shape[-1] != inp.net.input_size:
        raise ShapeMismatchError(f"features per frame of {inp.data_path}", inp.net.input_size, x.shape[-1])
    return x, y


def _counted_lava_run(inp: _Inputs, xb: torch.Tensor, y: np.ndarray, dt: float,
                      emu_spikes: Mapping[str, torch.Tensor], checks: Mapping[str, Any],
                      carried: int) -> tuple[BackendRun, dict[str, Any]]:
    """The Lava run's counts (checked equal to the emulator's) and the checks made."""
    res = inp.results
    lava_counts = count_run(inp.net, xb, {k: torch.from_numpy(v.astype(np.int8)) for k, v in res.spikes.items()},
                            dt=dt)
    check_counts_equal(count_run(inp.net, xb, dict(emu_spikes), dt=dt), lava_counts)
    checks = {**checks, "counts_equal": ["spikes", "synops", "sparsity", "inputs"],
              "reference": (f"emulate_stream: Lava's stream, {carried} sample(s) received recurrent spikes across "
                            "their reset" if carried else "emulate: independent runs (no spike crossed a reset)")}
    run = BackendRun("lava", f"Lava {res.meta.get('config')} (results file)", lava_counts, res.predictions.copy(),
                     float((res.predictions == y).mean()), float(res.meta.get("wall_time_s") or 0.0), "cpu")
    return run, checks


def _gpn_run(gpn_path: Path, model: SpikingNetwork, x: torch.Tensor, y: np.ndarray, dt: float,
             device: torch.device, config: CompareConfig, raster_sample: int, progress: bool,
             say: Callable[[str], None]) -> BackendRun:
    """The GPN before folding, run and counted with its dense gates."""
    gpn_model, _ = load_checkpoint(gpn_path)
    if gpn_model.config.neuron != "gpn":
        raise CheckpointError(gpn_path, f"holds a {gpn_model.config.neuron!r} network, not a GPN",
                              remedy="pass the GPN checkpoint the model was folded from")
    if gpn_model.config.input_size != model.config.input_size:
        raise ShapeMismatchError(f"input size of {gpn_path}", model.config.input_size, gpn_model.config.input_size)
    say(f"GPN before folding: {gpn_path}")
    run, _ = run_float("gpn", f"GPN before folding, PyTorch float ({device.type})", gpn_model, x, y, dt, device,
                       config.batch_size, raster_sample, progress)
    return run


def compare(options: CompareOptions, *, nvml: Any = None, log: Callable[[str], None] | None = None) -> CompareResult:
    """Run the float model and the emulator on the Lava run's samples, check Lava against the
    emulator exactly, count all three, estimate their energy, and write the report (module
    docstring). ``nvml``: an NVML module to use (tests inject a fake)."""
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    config = options.config
    check_chips(config)
    _check_report_folder(options)
    if options.threads:
        torch.set_num_threads(options.threads)
    inp = _load_inputs(options)
    res = inp.results
    x, y = _samples(inp, say)
    xb = _network_input(inp.net, x)
    raster_sample = min(int(config.raster_sample), x.shape[0] - 1)
    dt = float(inp.binning.dt)
    device = pick_device(config.device)
    say(f"float run on {device}")
    float_run, float_raster = run_float("float", f"PyTorch float ({device.type})", inp.model, x, y, dt, device,
                                        config.batch_size, raster_sample, options.progress)
    # Lava's stream can carry recurrent spikes across a reset (a bias that fires a layer on the
    # steps before its first reset, or a sample that ends active): then the exact reference
    # is the emulator replaying Lava's stream, and the run says how many samples it touched.
    carried = int(res.meta.get("carried_samples") or 0)
    stream = (int(res.meta["replicas"]), int(res.meta["gap_steps"])) if carried else None
    say("emulator run" + (f" (Lava's stream timing: {carried} sample(s) received recurrent spikes across "
                          "their reset)" if carried else ""))
    emu_run, emu_spikes, emu_readout_v, overflow = run_emulator(inp.net, xb, y, dt, config.batch_size,
                                                                options.progress, stream)
    say("checking the Lava run against the emulator")
    checks = _verify_lava(res, inp.results_path, inp.net, emu_spikes, emu_readout_v, emu_run.predictions)
    t0 = time.perf_counter()
    lava_run, checks = _counted_lava_run(inp, xb, y, dt, emu_spikes, checks, carried)
    runs: dict[str, BackendRun] = {"float": float_run, "emulator": emu_run, "lava": lava_run}
    count_s = time.perf_counter() - t0
    energy = _energy(runs, config)
    gpn_path = _gpn_path(options.gpn, inp.meta)
    if gpn_path is not None:
        runs["gpn"] = _gpn_run(gpn_path, inp.model, x, y, dt, device, config, raster_sample, options.progress, say)
        energy["gpn_gpu"] = estimate_energy(runs["gpn"].counts, config.gpu)
        energy["gpn_gpu_dense"] = estimate_energy(runs["gpn"].counts, config.gpu, basis="dense")
    measured, status = (None, NOT_MEASURED + " (measurement switched off)")
    if config.measure_gpu:
        measured, status = measure_gpu(inp.model, x, device, config.batch_size, config.gpu_min_seconds, nvml)
    raster = {"sample": raster_sample, "sample_index": int(res.sample_indices[raster_sample]),
              "label": int(y[raster_sample]), "input": x[raster_sample].numpy(), "float": float_raster,
              "lava": {k: v[raster_sample].astype(bool) for k, v in res.spikes.items()},
              "predictions": {k: int(r.predictions[raster_sample]) for k, r in runs.items()}}
    inputs = _provenance(options, inp, gpn_path, clipped=0 if inp.net.graded_input else int((x > 1).sum()),
                         overflow=overflow, device=device,
                         count_s=count_s)
    targets = energy_targets(runs, energy, config, cores=_cores(inp.net, config.chips), measured=measured,
                             threads=torch.get_num_threads())
    say("counting multiplications on conventional hardware (source network, GRU and LSTM of equal width)")
    mults, accuracies = _multiplications(inp, x)
    accuracies.update({k: v["test_acc"] for k, v in (read_baselines(options.baselines) or {}).items()})
    cmp = Comparison(runs=runs, layers=layer_table(runs), energy=energy, gpu_measured=measured, gpu_status=status,
                     checks=checks, n_samples=int(x.shape[0]), n_steps=inp.n_steps, dt=dt, inputs=inputs,
                     raster=raster, lava_meta=dict(res.meta), config=config, versions=_versions(res.meta),
                     seconds=time.perf_counter() - t_start, targets=targets, multiplications=mults,
                     baseline_accuracy=accuracies)
    report = None
    if options.out is not None:
        report = write_report(cmp, options.out, title=options.title, command=options.command, extra=options.extra)
    return CompareResult(cmp, report)


def _network_input(net: LoihiNetwork, x: torch.Tensor) -> torch.Tensor:
    """What the integer network reads: binary spikes, or the graded payloads the host's encoder
    makes of real-valued features (the standardisation and scale the exporter recorded)."""
    if not net.graded_input:
        return (x > 0).to(torch.uint8)
    return torch.as_tensor(encode_recorded(x.numpy(), net.metadata.get("spec_metadata") or {}, net.input_bits))


def _check_report_folder(options: CompareOptions) -> None:
    """The report folder: a folder (or none yet), none of whose files is an input."""
    if options.out is None:
        return
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise SpikedeployError(f"{out}: exists and is a file; -o names the folder the report is written into",
                               remedy="choose a folder (it is created when missing)")
    if out.is_dir():
        check_outputs({f"report file {name}": out / name for name in REPORT_FILES},
                      {"checkpoint": options.checkpoint, "results": options.results, "data": options.data,
                       "NIR file": options.nir, "GPN checkpoint": None if options.gpn == "auto" else options.gpn})


def _energy(runs: Mapping[str, BackendRun], config: CompareConfig) -> dict[str, EnergyEstimate]:
    """Energy per inference: each chip from the emulator's counts (its exact u/v trace; Lava's
    equals it spike for spike), the GPU (45 nm MAC/AC model, effective and dense) from the float run's."""
    energy = {chip: estimate_energy(runs["emulator"].counts, chip) for chip in config.chips}
    energy["gpu"] = estimate_energy(runs["float"].counts, config.gpu)
    energy["gpu_dense"] = estimate_energy(runs["float"].counts, config.gpu, basis="dense")
    return energy


def _multiplications(inp: _Inputs, x: torch.Tensor) -> tuple[dict[str, SourceOps], dict[str, float]]:
    """Operations on conventional hardware of the deployed float network, the network it was
    folded from (when its checkpoint exists) and a GRU and an LSTM of the same width; and the
    source's test accuracy as its checkpoint records it."""
    out = {"deployed": count_source_ops(inp.model, x, name="deployed")}
    accuracy: dict[str, float] = {}
    src = ((inp.meta.get("extra") or {}).get("fold") or {}).get("source_checkpoint")
    if src and Path(src).is_file():
        source, meta = load_checkpoint(src)
        if source.config.input_size == inp.model.config.input_size:
            ops = count_source_ops(source, x, name="source")
            out["source"] = dataclasses.replace(ops, assumptions=(f"the network folded from: {src}",) + ops.assumptions)
            if (meta.get("metrics") or {}).get("test_acc") is not None:
                accuracy["source"] = float(meta["metrics"]["test_acc"])
    cfg = inp.model.config
    for cell in ("gru", "lstm"):
        out[cell] = recurrent_baseline_ops(cell, cfg.input_size, cfg.hidden[0], cfg.n_classes, x.shape[1])
    return out, accuracy


def _cores(net: LoihiNetwork, chips: tuple[str, ...]) -> dict[str, int | None]:
    """Cores the network occupies on each chip (``map``); None where it cannot be mapped."""
    out: dict[str, int | None] = {}
    for chip in chips:
        try:
            out[chip] = map_network(net, chip).total_cores
        except SpikedeployError:
            out[chip] = None
    return out


def _provenance(options: CompareOptions, inp: _Inputs, gpn_path: Path | None, *, clipped: int,
                overflow: Mapping[str, Any], device: torch.device, count_s: float) -> dict[str, Any]:
    """The comparison's inputs: paths, hashes, binning, what was clipped or overflowed."""
    gpn_info = None if gpn_path is None else {"path": str(gpn_path), "sha256": file_sha256(gpn_path)}
    return {"checkpoint": str(options.checkpoint), "checkpoint_sha256": file_sha256(options.checkpoint),
            "nir": str(inp.nir_path), "data": str(inp.data_path), "results": str(inp.results_path),
            "results_sha256": file_sha256(inp.results_path), **inp.hashes, "gpn": gpn_info,
            "binning": inp.binning.to_dict(), "input_entries_clipped": clipped,
            "emulator_overflow": overflow, "device": str(device), "count_seconds": count_s,
            "checkpoint_metrics": {k: v for k, v in (inp.meta.get("metrics") or {}).items() if k != "history"},
            "fold": _fold_summary(inp.meta)}

def _fold_summary(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    fold = (meta.get("extra") or {}).get("fold")
    if not fold:
        return None
    acc = fold.get("accuracy") or {}
    return {"source_checkpoint": fold.get("source_checkpoint"),
            "test_accuracy": {stage: (d.get("test") or {}).get("acc") for stage, d in acc.items()}}


__all__ = ["CompareConfig", "CompareOptions", "CompareResult", "compare", "energy_headline", "fmt_energy",
           "resolve_inputs"]
