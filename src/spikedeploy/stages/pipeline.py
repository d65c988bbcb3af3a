"""The whole way from data to the comparison report: the stages in order, for every model.

:func:`run_pipeline` runs, for every model of a :class:`~.pipeline_config.PipelineConfig`::

    data     build the synthetic digits (cached by their own manifest) or check a given folder
    train    the train stage (stages.train)                    -> checkpoints/<model>.pt
    baselines  GRU and LSTM of the models' width (stages.baselines, once) -> baselines.json
    fold     the fold stage (GPN, s2net, pr-v2; stages.fold)   -> folded/<model>.pt
    export   quantise + export-nir (stages.export)             -> nir/<model>.nir, nir/<model>.quant.json
    lava     lava-run on the test set (stages.lava_run)        -> lava/<model>.npz
    compare  float / emulator / Lava + report (stages.compare) -> report/<model>/report.md + PNGs

and writes ``report/README.md`` tying the models together. Every artefact goes into the
output folder; only the built-in data set stays in the cache folder
(``spikedeploy data where``). Each step's outcome is a typed record (:class:`Trained`,
:class:`Folded`, :class:`Exported`, :class:`LavaRan`, :class:`Compared`), collected per
model in a :class:`ModelRun`.

**Reuse.** ``pipeline.json`` in the output folder records each finished step: a hash of
its settings and of its inputs' bytes, and the SHA-256 of every file it wrote. A step
whose hash and outputs are unchanged is skipped (its record restored from the manifest);
anything that changes (a setting, an input file) reruns that step and, through the input
hashes, every step after it. ``force=True`` reruns everything. The manifest is rewritten
(atomically) after each step, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import torch

from .. import __version__
from ..atomic import atomic_path
from ..data.gsc import data_sha256
from ..data.shd import BinningConfig
from ..data.synth_digits import SynthConfig, build_dataset
from ..data.synth_gsc import build_gsc_layout
from ..errors import ConfigError, DataFormatError, SpikedeployError
from ..hashing import file_sha256, settings_hash
from ..metrics.report import write_index
from .baselines import BaselineOptions, baselines
from .compare import CompareOptions, compare
from .export import ExportOptions, export
from .fold import FoldOptions, fold
from .lava_run import LavaRunOptions, lava_run
from .lava_run_graded import lava_run_graded
from ..paths import cache_dir
from .pipeline_config import DEFAULT_MODELS, GSC_INPUT_BITS, STAGES, LavaSettings, ModelPlan, PipelineConfig
from .train import TrainOptions, train

MANIFEST = "pipeline.json"
MANIFEST_FORMAT = "spikedeploy-pipeline"

P = TypeVar("P", bound="_Product")


# ----------------------------------------------------------------------------- step records

def _output() -> Any:
    """A field holding a file the step wrote (recorded in the manifest with its SHA-256)."""
    return field(metadata={"output": True})


@dataclass(frozen=True)
class _Product:
    """A step's outcome: its output files and what it measured (plain data)."""

    def outputs(self) -> dict[str, Path]:
        return {f.name: Path(getattr(self, f.name)) for f in dataclasses.fields(self) if f.metadata.get("output")}

    def info(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.metadata.get("output")}

    @classmethod
    def restore(cls: type[P], outputs: Mapping[str, Path], info: Mapping[str, Any]) -> P:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**info, **outputs}.items() if k in names})


@dataclass(frozen=True)
class Trained(_Product):
    checkpoint: Path = _output()
    test_acc: float = 0.0
    best_val_acc: float = 0.0
    best_epoch: int = 0
    epochs: int = 0
    firing_rates: list[float] = field(default_factory=list)
    n_parameters: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Folded(_Product):
    checkpoint: Path = _output()
    accuracy: Mapping[str, Mapping[str, float]] = field(default_factory=dict)   # {stage: {split: acc}}


@dataclass(frozen=True)
class Exported(_Product):
    nir: Path = _output()
    quant_report: Path = _output()
    calibration_accuracy_float: float | None = None
    calibration_accuracy_emulator: float | None = None
    calibration_logit_agreement: float | None = None
    approximations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LavaRan(_Product):
    results: Path = _output()
    accuracy: float = 0.0
    samples: int = 0
    replicas: int = 0
    gap_steps: int = 0
    wall_time_s: float = 0.0


@dataclass(frozen=True)
class Loihi2Ran(_Product):
    """The Loihi 2 path: the network file, the fold's test accuracies (source, float with hard gates,
    integers) and the Lava run's."""

    network: Path = _output()
    accuracy: Mapping[str, float] = field(default_factory=dict)
    lava_accuracy: float = 0.0
    samples: int = 0
    verified: bool = False
    layer_outputs: Mapping[str, str] = field(default_factory=dict)   # {layer: "graded" | "spikes"}
    wall_time_s: float = 0.0


@dataclass(frozen=True)
class BaselinesRan(_Product):
    results: Path = _output()
    accuracy: Mapping[str, float] = field(default_factory=dict)     # {cell: test accuracy}


@dataclass(frozen=True)
class Compared(_Product):
    report: Path = _output()
    comparison: Path = _output()
    accuracy: Mapping[str, float] = field(default_factory=dict)


@dataclass
class ModelRun:
    """What the pipeline made of one model so far."""

    plan: ModelPlan
    trained: Trained | None = None
    folded: Folded | None = None
    exported: Exported | None = None
    lava: LavaRan | None = None
    loihi2: Loihi2Ran | None = None
    compared: Compared | None = None
    comparison: dict[str, Any] | None = None      # comparison.json's contents

    @property
    def deployed(self) -> Path:
        """The float checkpoint that is exported: the folded one, else the trained one."""
        return (self.folded or self.trained).checkpoint


# ----------------------------------------------------------------------------- the manifest

class _Manifest:
    """``pipeline.json``: one record per finished step (hash, outputs with SHA-256)."""

    def __init__(self, out: Path, config: PipelineConfig, force: bool):
        self.path = out / MANIFEST
        self.out = out
        self.stages: dict[str, Any] = {}
        if not force and self.path.is_file():
            try:
                doc = json.loads(self.path.read_text())
                if doc.get("format") == MANIFEST_FORMAT:
                    self.stages = dict(doc.get("stages", {}))
            except (OSError, ValueError):
                self.stages = {}
        self.config = config

    def _path(self, recorded: str) -> Path:
        p = Path(recorded)
        return p if p.is_absolute() else self.out / p

    def reusable(self, key: str, stage_hash: str) -> dict[str, Any] | None:
        rec = self.stages.get(key)
        if not rec or rec.get("hash") != stage_hash:
            return None
        for info in rec.get("outputs", {}).values():
            p = self._path(info["path"])
            if not p.is_file() or file_sha256(p) != info["sha256"]:
                return None
        return rec

    def record(self, key: str, stage_hash: str, outputs: Mapping[str, Path], seconds: float, cpu_seconds: float,
               info: Mapping[str, Any]) -> None:
        outs = {}
        for role, p in outputs.items():
            p = Path(p)
            try:
                rel = str(p.resolve().relative_to(self.out.resolve()))
            except ValueError:
                rel = str(p.resolve())
            outs[role] = {"path": rel, "sha256": file_sha256(p)}
        self.stages[key] = {"hash": stage_hash, "outputs": outs, "seconds": round(seconds, 2),
                            "cpu_seconds": round(cpu_seconds, 2),
                            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                            "info": json.loads(json.dumps(dict(info), default=str))}
        doc = {"format": MANIFEST_FORMAT, "version": 1, "config": self.config.to_dict(), "stages": self.stages}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")

    def outputs(self, rec: Mapping[str, Any]) -> dict[str, Path]:
        return {role: self._path(o["path"]) for role, o in rec["outputs"].items()}


# ----------------------------------------------------------------------------- running

@dataclass
class StageRecord:
    key: str          # "train:gpn"
    status: str       # "ran", "reused" (data: "cached", "built now", "given")
    seconds: float    # wall time
    info: Mapping[str, Any] = field(default_factory=dict)
    cpu_seconds: float = 0.0   # CPU time of this process and its finished children (Lava's)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.key, "status": self.status, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` did: the output folder, the report index, each step."""

    out: Path
    report: Path | None
    stages: list[StageRecord]
    comparisons: dict[str, dict[str, Any]]     # model -> comparison.json contents
    seconds: float
    data_dir: Path | None = None
    models: dict[str, ModelRun] = field(default_factory=dict)

    def stage(self, key: str) -> StageRecord:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)


@dataclass(frozen=True)
class _Data:
    dir: Path
    train: Path
    test: Path
    sha: Mapping[str, str]      # {"train": ..., "test": ...}
    status: str
    gsc: "_Data | None" = None  # the GSC layout of the same utterances, for models with data = "gsc"

    def of(self, plan: ModelPlan) -> "_Data":
        """The data a model trains and runs on (a GSC folder stands for its train and test files)."""
        return self.gsc if plan.data == "gsc" else self

class _Runner:
    """Runs each step unless the manifest holds it with the same hash and intact outputs."""

    def __init__(self, config: PipelineConfig, out: Path, *, force: bool, progress: bool,
                 log: Callable[[str], None], total: int, command: str | None):
        self.config = config
        self.out = out
        self.manifest = _Manifest(out, config, force)
        self.progress = progress
        self.log = log
        self.total = total
        self.command = command
        self.done = 0
        self.records: list[StageRecord] = []

    def step(self, key: str, kind: type[P], settings: Mapping[str, Any], inputs: Mapping[str, str],
             work: Callable[[], P]) -> P:
        self.done += 1
        stage_hash = settings_hash({"stage": key, "settings": settings, "inputs": inputs, "spikedeploy": __version__})
        head = f"[{self.done}/{self.total}] {key}"
        rec = self.manifest.reusable(key, stage_hash)
        if rec is not None:
            self.log(f"{head}: reused (finished {rec['finished']}, settings and inputs unchanged)")
            self.records.append(StageRecord(key, "reused", float(rec.get("seconds", 0.0)), rec.get("info", {}),
                                            float(rec.get("cpu_seconds", 0.0))))
            return kind.restore(self.manifest.outputs(rec), rec.get("info", {}))
        self.log(f"{head} ...")
        t0, c0 = time.perf_counter(), _cpu()
        product = work()
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
        self.manifest.record(key, stage_hash, product.outputs(), seconds, cpu, product.info())
        self.records.append(StageRecord(key, "ran", seconds, product.info(), cpu))
        self.log(f"{head}: done in {seconds:.1f} s (CPU {cpu:.1f} s)")
        return product


def run_pipeline(config: PipelineConfig, out: str | Path, *, force: bool = False, until: str | None = None,
                 progress: bool = True, workers: int | None = None, command: str | None = None,
                 log: Callable[[str], None] | None = None) -> PipelineResult:
    """Run (or resume) the pipeline of ``config`` into the folder ``out`` (module docstring).

    ``until``: stop after this stage kind (one of :data:`STAGES`). ``workers``: processes for
    building the synthetic data. ``command``: the command line, recorded in the reports.
    """
    say = log or print
    if until is not None and until not in STAGES:
        raise ConfigError("until", f"unknown stage {until!r}", valid=STAGES)
    stop = STAGES.index(until) if until is not None else len(STAGES) - 1
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpikedeployError(f"{out} exists and is not a folder", remedy="choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(int(config.threads))
    n_fold = sum(m.folds(config.binning) for m in config.models)
    per_kind = {"fold": n_fold, "baselines": 1 if config.baselines.cells else 0,
                "loihi2": sum(m.loihi2(config.binning) for m in config.models)}
    total = 1 + sum(per_kind.get(kind, len(config.models)) for kind in STAGES[1:stop + 1])
    runner = _Runner(config, out, force=force, progress=progress, log=say, total=total, command=command)
    t_start = time.perf_counter()
    data = _data_step(config, out, workers, runner)
    result = PipelineResult(out=out, report=None, stages=runner.records, comparisons={}, seconds=0.0,
                            data_dir=data.dir)
    if stop > 0:
        runs = _model_steps(config, data, runner, stop)
        result.models = runs
        result.comparisons = {name: r.comparison for name, r in runs.items() if r.comparison is not None}
        if result.comparisons:
            result.report = _index(out, runs, runner, data, t_start)
    result.seconds = time.perf_counter() - t_start
    return result


def _model_steps(config: PipelineConfig, data: _Data, runner: _Runner, stop: int) -> dict[str, ModelRun]:
    """Train every model first, then deploy each: a failure in a later step of one model
    leaves the others' checkpoints in place (and reusable)."""
    runs = {m.name: ModelRun(m) for m in config.models}
    for run in runs.values():
        run.trained = _train_step(run, data.of(run.plan), runner)
    base = _baselines_step(data, runner) if stop >= STAGES.index("baselines") and config.baselines.cells else None
    if stop >= STAGES.index("fold"):
        for run in runs.values():
            if run.plan.folds(config.binning):
                run.folded = _fold_step(run, data, runner)
    for run in runs.values():
        d = data.of(run.plan)
        if stop >= STAGES.index("export"):
            run.exported = _export_step(run, d, runner)
        if stop >= STAGES.index("lava"):
            run.lava = _lava_step(run, d, runner)
        if stop >= STAGES.index("loihi2") and "loihi2" in run.plan.targets:
            if run.plan.loihi2(config.binning):
                run.loihi2 = _loihi2_step(run, d, runner)
            else:
                runner.log(f"{run.plan.name}: targets loihi2: a {run.plan.run_config(None).network.neuron} network "
                           "needs no graded spikes between its layers; its Loihi 1 path runs on Loihi 2 as it is")
        if stop >= STAGES.index("compare"):
            run.compared = _compare_step(run, d, runner, base)
            run.comparison = json.loads(Path(run.compared.comparison).read_text())
    return runs


def _index(out: Path, runs: Mapping[str, ModelRun], runner: _Runner, data: _Data, t_start: float) -> Path:
    """``report/README.md``: every model's accuracy chain and report, the steps and their times."""
    entries = [{"name": name, "report": r.compared.report, "summary": r.comparison, "accuracy": _accuracy_chain(r)}
               for name, r in runs.items() if r.compared is not None]
    ran = sum(s.seconds for s in runner.records if s.status != "reused")
    notes = [f"data: {data.dir} ({data.status})",
             f"configuration: {out / MANIFEST} (with every stage's hash and outputs)",
             f"this run: {time.perf_counter() - t_start:.1f} s wall, {ran:.1f} s in the stages it ran "
             "(reused stages show the times recorded when they ran)"]
    return write_index(out / "report", entries, title="spikedeploy pipeline report",
                       stages=[s.to_dict() for s in runner.records], command=runner.command, notes=notes)


# ----------------------------------------------------------------------------- the steps

def _data_step(config: PipelineConfig, out: Path, workers: int | None, runner: _Runner) -> _Data:
    runner.done += 1
    head = f"[{runner.done}/{runner.total}] data"
    t0, c0 = time.perf_counter(), _cpu()
    if config.data_dir is not None:
        data_dir = Path(config.data_dir)
        train_path, test_path = data_dir / "train.h5", data_dir / "test.h5"
        for p in (train_path, test_path):
            if not p.is_file():
                raise DataFormatError(p, "missing", remedy="[data] dir must hold train.h5 and test.h5 (SHD format)")
        status = "given"
        runner.log(f"{head}: {data_dir} (given)")
    else:
        cfg = config.synth or SynthConfig.default()
        where = None if config.synth is None else out / "data"
        runner.log(f"{head}: synthetic spoken digits ({cfg.n_train} train / {cfg.n_test} test) ...")
        res = build_dataset(cfg, where, workers=workers, progress=runner.progress)
        data_dir, train_path, test_path = res.out_dir, res.train_path, res.test_path
        status = "cached" if res.cached else "built now"
        runner.log(f"{head}: {data_dir} ({status})")
    gsc = _gsc_data(config, out, workers, runner) if any(m.data == "gsc" for m in config.models) else None
    info = {"status": status, "dir": str(data_dir), **({"gsc_dir": str(gsc.dir)} if gsc else {})}
    runner.records.append(StageRecord("data", status, time.perf_counter() - t0, info, _cpu() - c0))
    return _Data(Path(data_dir), Path(train_path), Path(test_path),
                 {"train": file_sha256(train_path), "test": file_sha256(test_path)}, status, gsc)


def _gsc_data(config: PipelineConfig, out: Path, workers: int | None, runner: _Runner) -> _Data:
    """The synthetic utterances in GSC's layout (cached by their manifest), for ``data = "gsc"`` models."""
    if config.data_dir is not None:
        raise ConfigError("models.data", "a model with data = \"gsc\" trains on the synthetic digits in GSC's "
                          "layout, which a given [data] dir does not have",
                          remedy="leave [data] dir out, or drop the gsc model")
    where = cache_dir() / "synth-gsc" if config.synth is None else out / "data-gsc"
    res = build_gsc_layout(config.synth, where, workers=workers, progress=runner.progress)
    runner.log(f"data (GSC layout): {res.out_dir} ({'cached' if res.cached else 'built now'})")
    digest = data_sha256(res.out_dir)
    return _Data(res.out_dir, res.out_dir, res.out_dir, {"train": digest, "test": digest},
                 "cached" if res.cached else "built now")


def _train_step(run: ModelRun, data: _Data, runner: _Runner) -> Trained:
    config, m = runner.config, run.plan
    rc = m.run_config(config.binning, config.seed)
    ckpt = runner.out / "checkpoints" / f"{m.name}.pt"

    def work() -> Trained:
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        res = train(TrainOptions(run=rc, data_dir=data.dir, out=ckpt, device=config.device,
                                 extra={"pipeline": m.name}, progress=runner.progress), log=runner.log)
        return Trained(res.checkpoint, res.test_acc, res.best_val_acc, res.best_epoch, len(res.history),
                       res.firing_rates, res.n_parameters, res.seconds)

    return runner.step(f"train:{m.name}", Trained, {"run": rc.to_dict(), "device": config.device}, data.sha, work)


def _baselines_step(data: _Data, runner: _Runner) -> BaselinesRan:
    config = runner.config
    hidden, epochs = config.baseline_size()
    out = runner.out / "baselines.json"
    opts = BaselineOptions(data.dir, BinningConfig.from_dict(dict(config.binning)), hidden, epochs,
                           config.baselines.cells, config.seed, out)

    def work() -> BaselinesRan:
        res = baselines(opts, log=runner.log if runner.progress else None)
        return BaselinesRan(out, {cell: r["test_acc"] for cell, r in res.items()})

    settings = {"cells": list(opts.cells), "hidden": hidden, "epochs": epochs, "seed": config.seed,
                "binning": dict(config.binning)}
    return runner.step("baselines", BaselinesRan, settings, dict(data.sha), work)


def _fold_step(run: ModelRun, data: _Data, runner: _Runner) -> Folded:
    m = run.plan
    fcfg = runner.config.fold_config(m)
    folded = runner.out / "folded" / f"{m.name}.pt"

    def work() -> Folded:
        folded.parent.mkdir(parents=True, exist_ok=True)
        res = fold(FoldOptions(checkpoint=run.trained.checkpoint, out=folded, data_dir=data.dir, config=fcfg,
                               device="cpu", progress=runner.progress), log=runner.log)
        acc = {stage: {split: d["acc"] for split, d in v.items()} for stage, v in res.accuracy.items()}
        return Folded(res.checkpoint, acc)

    return runner.step(f"fold:{m.name}", Folded, {"fold": fcfg.to_dict()},
                       {**data.sha, "checkpoint": file_sha256(run.trained.checkpoint)}, work)


def _export_step(run: ModelRun, data: _Data, runner: _Runner) -> Exported:
    m, q = run.plan, runner.config.quant
    nir_path = runner.out / "nir" / f"{m.name}.nir"
    report_path = runner.out / "nir" / f"{m.name}.quant.json"

    def work() -> Exported:
        nir_path.parent.mkdir(parents=True, exist_ok=True)
        res = export(ExportOptions(checkpoint=run.deployed, out=nir_path, quantized=True, data_dir=data.dir, quant=q,
                                   report=report_path, progress=runner.progress,
                                   graded_input=GSC_INPUT_BITS if m.data == "gsc" else 0))
        rep = res.report
        return Exported(nir_path, report_path, rep.accuracy_float, rep.accuracy_emulator, rep.logit_agreement,
                        list(rep.approximations))

    return runner.step(f"export:{m.name}", Exported, {"quant": dataclasses.asdict(q), "data": m.data},
                       {"train": data.sha["train"], "checkpoint": file_sha256(run.deployed)}, work)


def _lava_step(run: ModelRun, data: _Data, runner: _Runner) -> LavaRan:
    m, lv = run.plan, runner.config.lava
    results = runner.out / "lava" / f"{m.name}.npz"

    def work() -> LavaRan:
        results.parent.mkdir(parents=True, exist_ok=True)
        s = lava_run(LavaRunOptions(model=run.exported.nir, data=data.test, samples=lv.samples, replicas=lv.replicas,
                                    gap_steps=lv.gap_steps, verify=lv.verify, out=results, progress=runner.progress))
        return LavaRan(s.results_path, s.accuracy, s.n_samples, s.replicas, s.gap_steps, s.wall_time_s)

    return runner.step(f"lava:{m.name}", LavaRan, {"lava": dataclasses.asdict(lv)},
                       {"test": data.sha["test"], "nir": file_sha256(run.exported.nir)}, work)


def _loihi2_step(run: ModelRun, data: _Data, runner: _Runner) -> Loihi2Ran:
    """``fold --target loihi2`` of the trained model, then its network file in Lava."""
    m, lv = run.plan, runner.config.lava
    network = runner.out / "loihi2" / f"{m.name}.npz"
    fcfg = runner.config.fold_config(m)

    def work() -> Loihi2Ran:
        network.parent.mkdir(parents=True, exist_ok=True)
        cfg = dataclasses.replace(fcfg, finetune_epochs=0)          # the Loihi 2 fold keeps the source's weights
        res = fold(FoldOptions(checkpoint=run.trained.checkpoint, out=network, data_dir=data.dir, config=cfg,
                               device="cpu", progress=runner.progress, target="loihi2"), log=runner.log)
        s = lava_run_graded(LavaRunOptions(model=network, data=data.test, samples=lv.samples, replicas=lv.replicas,
                                           verify=lv.verify, progress=runner.progress))
        return Loihi2Ran(network, {k: v["test"]["acc"] for k, v in res.accuracy.items()}, s.accuracy, s.n_samples,
                         bool(s.verified), s.outputs, s.wall_time_s)

    return runner.step(f"loihi2:{m.name}", Loihi2Ran, {"fold": fcfg.to_dict(), "lava": dataclasses.asdict(lv)},
                       {**data.sha, "checkpoint": file_sha256(run.trained.checkpoint)}, work)


def _gpn_source(run: ModelRun) -> Path | None:
    """The GPN a folded model came from (counted before folding), None for other models."""
    if run.folded is None or run.plan.run_config(None).network.neuron != "gpn":
        return None
    return run.trained.checkpoint


def _compare_step(run: ModelRun, data: _Data, runner: _Runner, base: BaselinesRan | None) -> Compared:
    m, ccfg = run.plan, runner.config.compare
    folder = runner.out / "report" / m.name
    gpn = _gpn_source(run)
    files = {"deployed": run.deployed, "nir": run.exported.nir, "results": run.lava.results, "test": data.test,
             **({"gpn": gpn} if gpn is not None else {}), **({"baselines": base.results} if base else {})}

    def work() -> Compared:
        res = compare(CompareOptions(checkpoint=run.deployed, results=run.lava.results, data=data.test,
                                     nir=run.exported.nir, gpn=gpn, config=ccfg, out=folder,
                                     baselines=None if base is None else base.results,
                                     title=f"{m.name}: float PyTorch vs emulator vs Lava", command=runner.command,
                                     extra={"model": m.name, "stages": _stage_commands(run, data.test)},
                                     progress=runner.progress))
        return Compared(res.report, folder / "comparison.json",
                        {k: r.accuracy for k, r in res.comparison.runs.items()})

    return runner.step(f"compare:{m.name}", Compared, {"compare": ccfg.to_dict()},
                       {k: data_sha256(p) for k, p in files.items()}, work)


def _stage_commands(run: ModelRun, test_file: Path) -> dict[str, str]:
    """The CLI commands equivalent to this model's steps (for the report's provenance)."""
    m = run.plan
    cmds = {"train": f"library call run_training (preset {m.preset}) -> {run.trained.checkpoint}"}
    if run.folded is not None:
        cmds["fold"] = f"spikedeploy fold {run.trained.checkpoint} -o {run.deployed}"
    graded = f" --graded-input {GSC_INPUT_BITS} --data {test_file}" if m.data == "gsc" else ""
    cmds["export"] = f"spikedeploy export-nir {run.deployed} --quantized{graded} -o {run.exported.nir}"
    cmds["lava"] = f"spikedeploy lava-run {run.exported.nir} --data {test_file} --out {run.lava.results}"
    cmds["compare"] = f"spikedeploy compare {run.deployed} --data {test_file} --lava-results {run.lava.results}"
    return cmds


def _accuracy_chain(run: ModelRun) -> dict[str, dict[str, Any]]:
    """{stage: {"acc", "on"}} from training to Lava."""
    cmp = run.comparison
    on_lava = f"the Lava run's {cmp['n_samples']} test samples"
    chain: dict[str, dict[str, Any]] = {}
    if run.trained is not None:
        chain[f"{run.plan.name} trained (float)"] = {"acc": run.trained.test_acc, "on": "test file"}
    f = None if run.folded is None else run.folded.accuracy
    if f:
        chain["folded (float)"] = {"acc": f["folded"]["test"], "on": "test file"}
        if "finetuned" in f:
            chain["folded + fine-tuned (float)"] = {"acc": f["finetuned"]["test"], "on": "test file"}
    acc = cmp["accuracy"]
    if "gpn" in acc:
        chain["GPN before folding (float)"] = {"acc": acc["gpn"], "on": on_lava}
    chain["deployed float (PyTorch)"] = {"acc": acc["float"], "on": on_lava}
    chain["quantised (emulator)"] = {"acc": acc["emulator"], "on": on_lava}
    chain["Lava (fixed_pt)"] = {"acc": acc["lava"], "on": on_lava}
    l2 = run.loihi2
    if l2 is not None:
        chain["Loihi 2 path: float, hard gates"] = {"acc": l2.accuracy["hard_gates"], "on": "test file"}
        chain["Loihi 2 path: integers (emulator)"] = {"acc": l2.accuracy["loihi2"], "on": "test file"}
        graded = "graded payloads" if "graded" in l2.layer_outputs.values() else "state broadcast graded"
        chain[f"Loihi 2 path: Lava (fixed_pt, {graded})"] = {
            "acc": l2.lava_accuracy, "on": f"{l2.samples} test samples" + (", bit-exact" if l2.verified else "")}
    return chain


__all__ = ["DEFAULT_MODELS", "MANIFEST", "STAGES", "Compared", "Exported", "Folded", "LavaRan", "LavaSettings",
           "Loihi2Ran",
           "ModelPlan", "ModelRun", "PipelineConfig", "PipelineResult", "StageRecord", "Trained", "run_pipeline"]
