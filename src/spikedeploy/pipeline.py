"""The whole way from data to the comparison report, as one library call.

:func:`run_pipeline` runs, for every model of a :class:`PipelineConfig`::

    data     build the synthetic digits (cached by their own manifest) or check a given folder
    train    spikedeploy.training.loop.run_training         -> checkpoints/<model>.pt
    fold     spikedeploy.quant.fold.run_fold (GPN, s2net, pr-v2) -> folded/<model>.pt
    export   quantise + export-nir (quant.export)            -> nir/<model>.nir, nir/<model>.quant.json
    lava     lava-run on the test set (lava_backend.nir_run) -> lava/<model>.npz
    compare  float / emulator / Lava + report (metrics)      -> report/<model>/report.md + PNGs

and writes ``report/README.md`` tying the models together. Every artefact goes into the
output folder; only the built-in data set stays in the cache folder
(``spikedeploy data where``).

**Reuse.** ``pipeline.json`` in the output folder records each finished stage: a hash of
its settings and of its inputs' bytes, and the SHA-256 of every file it wrote. A stage
whose hash and outputs are unchanged is skipped; anything that changes (a setting, an
input file) reruns that stage and, through the input hashes, every stage after it.
``force=True`` reruns everything. The manifest is rewritten (atomically) after each
stage, so an interrupted run resumes where it stopped.

**Configuration.** A frozen :class:`PipelineConfig`, loadable from TOML
(:meth:`PipelineConfig.from_toml`)::

    seed = 0
    threads = 1                  # torch CPU threads (default 1; 0: torch's own choice)
    device = "auto"              # training device

    [data]
    dir = "path/to/shd"          # a folder with train.h5 and test.h5, or leave it out and
    [data.synth]                 # give SynthConfig fields for the synthetic digits
    n_train = 120                # (none: the built-in default data set, cached)

    [binning]                    # BinningConfig fields
    n_steps = 50
    binary = true

    [[models]]                   # one table per model, trained in this order
    name = "gpn"
    preset = "gpn-small"
    hidden = [128]
    epochs = 12
    [models.training]            # TrainConfig fields
    lr = 2e-3
    [models.fold_options]        # FoldConfig fields for this model only
    finetune_lr = 5e-4

    [fold]                       # FoldConfig fields (GPN, s2net and pr-v2 models)
    [quant]                      # calib_samples, headroom, allow_approx
    [lava]                       # replicas, samples, gap_steps, verify
    [compare]                    # CompareConfig fields

:meth:`PipelineConfig.default` is the main job (``spikedeploy main``);
:meth:`PipelineConfig.quick` a smoke-sized run (tiny data, one epoch).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .errors import ConfigError, SpikedeployError

#: Stage kinds, in order (``until`` takes one of them).
STAGES = ("data", "train", "fold", "export", "lava", "compare")
MANIFEST = "pipeline.json"
MANIFEST_FORMAT = "spikedeploy-pipeline"
_QUANT_KEYS = ("calib_samples", "headroom", "allow_approx")
_LAVA_KEYS = ("replicas", "samples", "gap_steps", "verify")
_TOP_KEYS = ("seed", "threads", "device", "data", "binning", "models", "fold", "quant", "lava", "compare")


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(_plain(obj), sort_keys=True).encode()).hexdigest()[:16]


def _known(section: str, given: Mapping[str, Any], valid: Sequence[str]) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise ConfigError(section, f"expected a table of settings, got {type(given).__name__}")
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(section, f"unknown setting(s) {', '.join(unknown)}", valid=sorted(valid))
    return dict(given)


# ----------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class ModelPlan:
    """One model of the pipeline: a preset, its size and training length, and overrides.

    ``fold``: fold the network (None: exactly when its neuron kind has a fold - GPN, s2net,
    pr-v2 - which it needs before export; LIF / CUBA-LIF networks never fold).
    ``model`` / ``training``: NetworkConfig / TrainConfig fields to override.
    ``fold_options``: FoldConfig fields for this model, over the pipeline's ``[fold]`` table.
    """

    name: str
    preset: str
    hidden: tuple[int, ...] | None = None
    epochs: int | None = None
    fold: bool | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    fold_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError("models.name", f"{self.name!r}: use letters, digits, '-' and '_' (it names files)")
        if self.hidden is not None:
            hidden = (self.hidden,) if isinstance(self.hidden, int) else tuple(int(h) for h in self.hidden)
            if not hidden or min(hidden) < 1:
                raise ConfigError(f"models[{self.name}].hidden", f"must be positive sizes, got {self.hidden!r}")
            object.__setattr__(self, "hidden", hidden)
        object.__setattr__(self, "model", dict(self.model))
        object.__setattr__(self, "training", dict(self.training))
        object.__setattr__(self, "fold_options", dict(self.fold_options))
        self.run_config(None)     # validates preset, model and training fields now
        if self.fold_options:
            from .quant.fold import FoldConfig

            try:
                FoldConfig.from_dict(self.fold_options)
            except ConfigError as err:
                raise ConfigError(f"models[{self.name}].fold_options: {err.field}", err.problem, valid=err.valid,
                                  remedy=err.remedy) from None

    def run_config(self, binning: Mapping[str, Any] | None, seed: int | None = None) -> Any:
        """The resolved ``RunConfig`` (preset < overrides < hidden/epochs/seed)."""
        from .training.run_config import RunConfig

        model = dict(self.model)
        if self.hidden is not None:
            model["hidden"] = list(self.hidden)
        training = dict(self.training)
        if self.epochs is not None:
            training["epochs"] = int(self.epochs)
        if seed is not None:
            training.setdefault("seed", int(seed))
        return RunConfig.resolve(preset=self.preset, model=model, binning=dict(binning or {}), training=training)

    def folds(self, binning: Mapping[str, Any] | None = None) -> bool:
        from .quant.fold import FOLDERS

        kind = self.run_config(binning).network.neuron
        foldable = kind in FOLDERS
        if self.fold and not foldable:
            raise ConfigError(f"models[{self.name}].fold", f"a {kind!r} network has no fold",
                              valid=sorted(FOLDERS))
        if self.fold is False and foldable:
            raise ConfigError(f"models[{self.name}].fold", f"a {kind!r} network must be folded before export",
                              remedy="leave fold out (or true) for this model")
        return foldable

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelPlan":
        d = _known("models", d, [f.name for f in dataclasses.fields(cls)])
        for key in ("name", "preset"):
            if key not in d:
                raise ConfigError("models", f"every model needs {key!r}")
        return cls(**d)


DEFAULT_MODELS = (
    ModelPlan("gpn", "gpn-small", hidden=(128,), epochs=10, training={"early_stop_patience": 4}),
    # Shared (not learnt) decays and thresholds: Loihi declares du, dv and vth once per LIF
    # process (per-core neuron profiles), so the LIF network maps onto one process per layer.
    # Learnt per-neuron values scored 2-4 pp more here (docs/benchmarks.md), but only run in
    # Lava's simulation-only per-neuron option.
    ModelPlan("lif", "lif-shd", hidden=(128,), epochs=12, model={"learn_decays": False, "learn_thresholds": False},
              training={"early_stop_patience": 4}),
    # The other two families of the source papers, folded (docs/folding.md): s2net with the
    # paper's subtractive reset (folded approximately) and Ponghiran & Roy's pr-v2. Their
    # distillation uses a smaller learning rate: at 2e-3 the pr-v2 student collapsed
    # (docs/benchmarks.md, "The three model families end to end").
    ModelPlan("s2net", "s2net-shd", hidden=(128,), epochs=12, training={"early_stop_patience": 4},
              fold_options={"finetune_lr": 5e-4}),
    ModelPlan("pr-v2", "pr-v2-shd", hidden=(128,), epochs=12, training={"early_stop_patience": 4},
              fold_options={"finetune_lr": 5e-4}),
)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline does (module docstring); frozen, echoed into every report."""

    data_dir: str | None = None
    synth: Mapping[str, Any] | None = None
    binning: Mapping[str, Any] = field(default_factory=lambda: {"n_steps": 40, "binary": True})
    models: tuple[ModelPlan, ...] = DEFAULT_MODELS
    fold: Mapping[str, Any] = field(default_factory=lambda: {
        "clusters": 4, "calib_samples": 512, "finetune_epochs": 6, "label_weight": 1.0, "finetune_decays": True})
    quant: Mapping[str, Any] = field(default_factory=lambda: {"calib_samples": 256})
    lava: Mapping[str, Any] = field(default_factory=dict)
    compare: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    threads: int | None = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        from .data.shd import BinningConfig
        from .data.synth_digits import SynthConfig
        from .metrics.compare import CompareConfig
        from .quant.fold import FoldConfig

        if self.data_dir is not None and self.synth is not None:
            raise ConfigError("data", "give either dir (an existing data set) or synth (build one), not both")
        if self.synth is not None:
            SynthConfig.from_dict(dict(self.synth))
            object.__setattr__(self, "synth", dict(self.synth))
        BinningConfig.from_dict(dict(self.binning))
        models = tuple(m if isinstance(m, ModelPlan) else ModelPlan.from_dict(m) for m in self.models)
        if not models:
            raise ConfigError("models", "give at least one model")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError("models", f"model names must be unique, got {names}")
        object.__setattr__(self, "models", models)
        for m in models:
            m.folds(self.binning)
        FoldConfig.from_dict(dict(self.fold))
        _known("quant", self.quant, _QUANT_KEYS)
        _known("lava", self.lava, _LAVA_KEYS)
        CompareConfig(**_known("compare", self.compare, [f.name for f in dataclasses.fields(CompareConfig)]))
        for name in ("binning", "fold", "quant", "lava", "compare"):
            object.__setattr__(self, name, dict(getattr(self, name)))
        if self.threads is not None and (isinstance(self.threads, bool) or int(self.threads) < 0):
            raise ConfigError("threads", f"must be >= 0 (0: torch's own choice), got {self.threads}")

    # --- presets -------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "PipelineConfig":
        """The main job: the built-in data set; a GPN, a LIF, an s2net and a pr-v2 network of 128
        neurons, T = 40 binary frames; the GPN, s2net and pr-v2 folded and fine-tuned (6 epochs
        of distillation); one CPU thread."""
        return cls()

    @classmethod
    def quick(cls) -> "PipelineConfig":
        """A smoke-sized run: tiny synthetic data, small networks, one epoch, T = 20."""
        return cls(synth={"n_train": 120, "n_test": 40, "noise": False},
                   binning={"n_steps": 20, "binary": True},
                   models=(ModelPlan("gpn", "gpn-small", hidden=(32,), epochs=1),
                           ModelPlan("lif", "lif-shd", hidden=(32,), epochs=1)),
                   fold={"clusters": 2, "calib_samples": 64, "finetune_epochs": 1, "label_weight": 1.0},
                   quant={"calib_samples": 64, "allow_approx": True})

    # --- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "threads": self.threads, "device": self.device,
                "data": {"dir": self.data_dir, "synth": _plain(self.synth)}, "binning": _plain(self.binning),
                "models": [m.to_dict() for m in self.models], "fold": _plain(self.fold),
                "quant": _plain(self.quant), "lava": _plain(self.lava), "compare": _plain(self.compare)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, base: "PipelineConfig | None" = None) -> "PipelineConfig":
        """Settings over ``base`` (default: :meth:`default`); sections replace key by key,
        ``models`` replaces the whole list."""
        d = _known("pipeline", d, _TOP_KEYS)
        base = base or cls.default()
        kw: dict[str, Any] = {}
        if "data" in d:
            data = _known("data", d["data"], ("dir", "synth"))
            kw["data_dir"] = None if data.get("dir") is None else str(data["dir"])
            kw["synth"] = data.get("synth")
        for name in ("binning", "fold", "quant", "lava", "compare"):
            if name in d:
                kw[name] = {**getattr(base, name), **_known(name, d[name], list(d[name]))}
        if "models" in d:
            if not isinstance(d["models"], (list, tuple)):
                raise ConfigError("models", "expected an array of tables ([[models]])")
            kw["models"] = tuple(ModelPlan.from_dict(m) for m in d["models"])
        for name in ("seed", "threads", "device"):
            if name in d:
                kw[name] = d[name]
        return dataclasses.replace(base, **kw)

    @classmethod
    def from_toml(cls, path: str | Path, *, base: "PipelineConfig | None" = None) -> "PipelineConfig":
        from .config import load_toml

        doc = load_toml(path)
        try:
            return cls.from_dict(doc, base=base)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err.field}", err.problem, valid=err.valid, remedy=err.remedy) from None

    # --- derived --------------------------------------------------------------------------
    def fold_config(self, model: "ModelPlan | None" = None) -> Any:
        """The FoldConfig of ``model`` (the ``[fold]`` table under its own ``fold_options``)."""
        from .quant.fold import FoldConfig

        return FoldConfig.from_dict({"seed": self.seed, **self.fold, **(model.fold_options if model else {})})

    def compare_config(self) -> Any:
        from .metrics.compare import CompareConfig

        return CompareConfig(**self.compare)


# ----------------------------------------------------------------------------- the manifest

class _Manifest:
    """``pipeline.json``: one record per finished stage (hash, outputs with SHA-256)."""

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

    def reusable(self, key: str, stage_hash: str) -> dict[str, Any] | None:
        from .metrics.compare import sha256_file

        rec = self.stages.get(key)
        if not rec or rec.get("hash") != stage_hash:
            return None
        for info in rec.get("outputs", {}).values():
            p = self.out / info["path"] if not Path(info["path"]).is_absolute() else Path(info["path"])
            if not p.is_file() or sha256_file(p) != info["sha256"]:
                return None
        return rec

    def record(self, key: str, stage_hash: str, outputs: Mapping[str, Path], seconds: float, cpu_seconds: float,
               info: Mapping[str, Any]) -> dict[str, Any]:
        from .atomic import atomic_path
        from .metrics.compare import sha256_file

        outs = {}
        for role, p in outputs.items():
            p = Path(p)
            try:
                rel = str(p.resolve().relative_to(self.out.resolve()))
            except ValueError:
                rel = str(p.resolve())
            outs[role] = {"path": rel, "sha256": sha256_file(p)}
        rec = {"hash": stage_hash, "outputs": outs, "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
               "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "info": _plain(info)}
        self.stages[key] = rec
        doc = {"format": MANIFEST_FORMAT, "version": 1, "config": self.config.to_dict(), "stages": self.stages}
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
        return rec

    def output(self, rec: Mapping[str, Any], role: str) -> Path:
        p = Path(rec["outputs"][role]["path"])
        return p if p.is_absolute() else self.out / p


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
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` did: the output folder, the report index, each stage."""

    out: Path
    report: Path | None
    stages: list[StageRecord]
    comparisons: dict[str, dict[str, Any]]     # model -> comparison.json contents
    seconds: float
    data_dir: Path | None = None

    def stage(self, key: str) -> StageRecord:
        for s in self.stages:
            if s.key == key:
                return s
        raise KeyError(key)


class _Runner:
    def __init__(self, config: PipelineConfig, out: Path, *, force: bool, progress: bool,
                 log: Callable[[str], None], total: int):
        self.config = config
        self.out = out
        self.manifest = _Manifest(out, config, force)
        self.progress = progress
        self.log = log
        self.total = total
        self.done = 0
        self.records: list[StageRecord] = []

    def stage(self, key: str, settings: Mapping[str, Any], inputs: Mapping[str, str],
              work: Callable[[], tuple[dict[str, Path], dict[str, Any]]]) -> tuple[dict[str, Path], dict[str, Any]]:
        """Run ``work`` unless the manifest holds this stage with the same hash and intact outputs."""
        from . import __version__

        self.done += 1
        stage_hash = _hash({"stage": key, "settings": settings, "inputs": inputs, "spikedeploy": __version__})
        head = f"[{self.done}/{self.total}] {key}"
        rec = self.manifest.reusable(key, stage_hash)
        if rec is not None:
            self.log(f"{head}: reused (finished {rec['finished']}, settings and inputs unchanged)")
            outs = {role: self.manifest.output(rec, role) for role in rec["outputs"]}
            self.records.append(StageRecord(key, "reused", float(rec.get("seconds", 0.0)), rec.get("info", {}),
                                            float(rec.get("cpu_seconds", 0.0))))
            return outs, dict(rec.get("info", {}))
        self.log(f"{head} ...")
        t0, c0 = time.perf_counter(), _cpu()
        outs, info = work()
        seconds, cpu = time.perf_counter() - t0, _cpu() - c0
        self.manifest.record(key, stage_hash, outs, seconds, cpu, info)
        self.records.append(StageRecord(key, "ran", seconds, info, cpu))
        self.log(f"{head}: done in {seconds:.1f} s (CPU {cpu:.1f} s)")
        return outs, info


def _sha(paths: Mapping[str, Path]) -> dict[str, str]:
    from .metrics.compare import sha256_file

    return {k: sha256_file(p) for k, p in paths.items()}


def run_pipeline(config: PipelineConfig, out: str | Path, *, force: bool = False, until: str | None = None,
                 progress: bool = True, workers: int | None = None, command: str | None = None,
                 log: Callable[[str], None] | None = None) -> PipelineResult:
    """Run (or resume) the pipeline of ``config`` into the folder ``out`` (module docstring).

    ``until``: stop after this stage kind (one of :data:`STAGES`). ``workers``: processes for
    building the synthetic data. ``command``: the command line, recorded in the reports.
    """
    import torch

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
    total = 1 + sum((n_fold if kind == "fold" else len(config.models)) for kind in STAGES[1:stop + 1])
    runner = _Runner(config, out, force=force, progress=progress, log=say, total=total)
    t_start = time.perf_counter()

    # --- data ------------------------------------------------------------------------------
    data_dir, data_files, data_info = _data_stage(config, out, workers, progress, say, runner)
    result = PipelineResult(out=out, report=None, stages=runner.records, comparisons={}, seconds=0.0,
                            data_dir=data_dir)
    if stop == 0:
        result.seconds = time.perf_counter() - t_start
        return result
    data_sha = _sha(data_files)

    entries = []
    products: dict[str, dict[str, Any]] = {}
    # Train every model first, then deploy each: a failure in a later stage of one model
    # leaves the others' checkpoints in place (and reusable).
    for m in config.models:
        products[m.name] = _train_stage(m, config, data_dir, data_sha, out, runner, progress, say)
    if stop >= STAGES.index("fold"):
        for m in config.models:
            if m.folds(config.binning):
                products[m.name].update(_fold_stage(m, config, data_dir, data_sha, products[m.name], out, runner,
                                                    progress, say))
    for m in config.models:
        p = products[m.name]
        if stop >= STAGES.index("export"):
            p.update(_export_stage(m, config, data_dir, data_sha, p, out, runner, progress))
        if stop >= STAGES.index("lava"):
            p.update(_lava_stage(m, config, data_files["test"], data_sha, p, out, runner, progress))
        if stop >= STAGES.index("compare"):
            p.update(_compare_stage(m, config, data_files["test"], p, out, runner, progress, command))
            result.comparisons[m.name] = p["comparison"]
            entries.append({"name": m.name, "report": p["report"], "summary": p["comparison"],
                            "accuracy": _accuracy_chain(m, p)})
    if entries:
        from .metrics.report import write_index

        ran = sum(s.seconds for s in runner.records if s.status != "reused")
        notes = [f"data: {data_dir} ({data_info.get('status', '')})",
                 f"configuration: {out / MANIFEST} (with every stage's hash and outputs)",
                 f"this run: {time.perf_counter() - t_start:.1f} s wall, {ran:.1f} s in the stages it ran "
                 "(reused stages show the times recorded when they ran)"]
        result.report = write_index(out / "report", entries, title="spikedeploy pipeline report",
                                    stages=[s.to_dict() for s in runner.records], command=command, notes=notes)
    result.seconds = time.perf_counter() - t_start
    return result


# ----------------------------------------------------------------------------- stages

def _data_stage(config: PipelineConfig, out: Path, workers: int | None, progress: bool, say: Callable,
                runner: _Runner) -> tuple[Path, dict[str, Path], dict[str, Any]]:
    runner.done += 1
    head = f"[{runner.done}/{runner.total}] data"
    t0, c0 = time.perf_counter(), _cpu()
    if config.data_dir is not None:
        from .errors import DataFormatError

        data_dir = Path(config.data_dir)
        files = {"train": data_dir / "train.h5", "test": data_dir / "test.h5"}
        for p in files.values():
            if not p.is_file():
                raise DataFormatError(p, "missing", remedy="[data] dir must hold train.h5 and test.h5 (SHD format)")
        info = {"status": "given", "dir": str(data_dir)}
        say(f"{head}: {data_dir} (given)")
    else:
        from .data.synth_digits import SynthConfig, build_dataset

        if config.synth is None:
            cfg, where = SynthConfig.default(), None
        else:
            cfg, where = SynthConfig.default().replace(**config.synth), out / "data"
        say(f"{head}: synthetic spoken digits ({cfg.n_train} train / {cfg.n_test} test) ...")
        res = build_dataset(cfg, where, workers=workers, progress=progress)
        data_dir = res.out_dir
        files = {"train": res.train_path, "test": res.test_path}
        info = {"status": "cached" if res.cached else "built now", "dir": str(data_dir)}
        say(f"{head}: {data_dir} ({info['status']})")
    seconds = time.perf_counter() - t0
    runner.records.append(StageRecord("data", info["status"], seconds, info, _cpu() - c0))
    return data_dir, files, info


def _train_stage(m: ModelPlan, config: PipelineConfig, data_dir: Path, data_sha: Mapping[str, str], out: Path,
                 runner: _Runner, progress: bool, say: Callable) -> dict[str, Any]:
    from .training.loop import run_training

    run = m.run_config(config.binning, config.seed)
    ckpt = out / "checkpoints" / f"{m.name}.pt"

    def work():
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        res = run_training(run.network, run.binning, run.training, data_dir, ckpt, device=config.device,
                           progress=progress, extra={"preset": run.preset, "run": run.to_dict(), "pipeline": m.name},
                           log=say)
        return {"checkpoint": res.checkpoint}, {"test_acc": res.test_acc, "best_val_acc": res.best_val_acc,
                                                "best_epoch": res.best_epoch, "epochs": len(res.history),
                                                "firing_rates": res.firing_rates, "n_parameters": res.n_parameters,
                                                "seconds": res.seconds}

    outs, info = runner.stage(f"train:{m.name}", {"run": run.to_dict(), "device": config.device},
                              data_sha, work)
    return {"trained": outs["checkpoint"], "deployed": outs["checkpoint"], "train_info": info}


def _fold_stage(m: ModelPlan, config: PipelineConfig, data_dir: Path, data_sha: Mapping[str, str],
                p: Mapping[str, Any], out: Path, runner: _Runner, progress: bool, say: Callable) -> dict[str, Any]:
    from .quant.fold import run_fold

    fcfg = config.fold_config(m)
    folded = out / "folded" / f"{m.name}.pt"

    def work():
        folded.parent.mkdir(parents=True, exist_ok=True)
        res = run_fold(p["trained"], data_dir, folded, fcfg, device="cpu", progress=progress, log=say)
        acc = {stage: {split: d["acc"] for split, d in v.items()} for stage, v in res.accuracy.items()}
        return {"checkpoint": res.checkpoint}, {"accuracy": acc}

    outs, info = runner.stage(f"fold:{m.name}", {"fold": fcfg.to_dict()},
                              {**data_sha, "checkpoint": _sha({"c": p["trained"]})["c"]}, work)
    return {"deployed": outs["checkpoint"], "fold_info": info}


def _export_stage(m: ModelPlan, config: PipelineConfig, data_dir: Path, data_sha: Mapping[str, str],
                  p: Mapping[str, Any], out: Path, runner: _Runner, progress: bool) -> dict[str, Any]:
    from .quant.export import export_checkpoint

    nir_path = out / "nir" / f"{m.name}.nir"
    report_path = out / "nir" / f"{m.name}.quant.json"
    q = {"calib_samples": 256, "headroom": 2.0, "allow_approx": False, **config.quant}

    def work():
        from .atomic import atomic_path

        nir_path.parent.mkdir(parents=True, exist_ok=True)
        res = export_checkpoint(p["deployed"], nir_path, quantized=True, data_dir=data_dir,
                                calib_samples=int(q["calib_samples"]), headroom=float(q["headroom"]),
                                allow_approx=bool(q["allow_approx"]), seed=config.seed, progress=progress)
        with atomic_path(report_path) as tmp:
            tmp.write_text(json.dumps(res.report.to_dict(), indent=1, default=str) + "\n")
        rep = res.report
        return {"nir": nir_path, "quant_report": report_path}, {
            "calibration_accuracy_float": rep.accuracy_float, "calibration_accuracy_emulator": rep.accuracy_emulator,
            "calibration_logit_agreement": rep.logit_agreement, "approximations": list(rep.approximations)}

    outs, info = runner.stage(f"export:{m.name}", {"quant": q, "seed": config.seed},
                              {"train": data_sha["train"], "checkpoint": _sha({"c": p["deployed"]})["c"]}, work)
    return {"nir": outs["nir"], "export_info": info}


def _lava_stage(m: ModelPlan, config: PipelineConfig, test_file: Path, data_sha: Mapping[str, str],
                p: Mapping[str, Any], out: Path, runner: _Runner, progress: bool) -> dict[str, Any]:
    from .lava_backend.nir_run import run_nir

    results = out / "lava" / f"{m.name}.npz"
    lv = {"replicas": None, "samples": None, "gap_steps": None, "verify": False, **config.lava}

    def work():
        results.parent.mkdir(parents=True, exist_ok=True)
        s = run_nir(p["nir"], test_file, samples=lv["samples"], replicas=lv["replicas"], gap_steps=lv["gap_steps"],
                    verify=bool(lv["verify"]), out=results, progress=progress)
        return {"results": s.results_path}, {"accuracy": s.accuracy, "samples": s.n_samples,
                                             "replicas": s.replicas, "gap_steps": s.gap_steps,
                                             "wall_time_s": s.wall_time_s}

    outs, info = runner.stage(f"lava:{m.name}", {"lava": lv},
                              {"test": data_sha["test"], "nir": _sha({"n": p["nir"]})["n"]}, work)
    return {"results": outs["results"], "lava_info": info}


def _compare_stage(m: ModelPlan, config: PipelineConfig, test_file: Path, p: Mapping[str, Any], out: Path,
                   runner: _Runner, progress: bool, command: str | None) -> dict[str, Any]:
    from .metrics.compare import compare_run
    from .metrics.report import write_report

    ccfg = config.compare_config()
    folder = out / "report" / m.name
    gpn = p["trained"] if "fold_info" in p and m.run_config(config.binning).network.neuron == "gpn" else None
    inputs = _sha({"deployed": p["deployed"], "nir": p["nir"], "results": p["results"], "test": test_file,
                   **({"gpn": gpn} if gpn is not None else {})})

    def work():
        cmp = compare_run(p["deployed"], p["results"], data=test_file, nir=p["nir"], gpn=gpn if gpn else None,
                          config=ccfg, progress=progress)
        extra = {"model": m.name, "stages": {k: v for k, v in _stage_commands(m, p, test_file).items()}}
        md = write_report(cmp, folder, title=f"{m.name}: float PyTorch vs emulator vs Lava", command=command,
                          extra=extra)
        return {"report": md, "comparison": folder / "comparison.json"}, {
            "accuracy": {k: r.accuracy for k, r in cmp.runs.items()}}

    outs, _ = runner.stage(f"compare:{m.name}", {"compare": ccfg.to_dict()}, inputs, work)
    return {"report": outs["report"], "comparison": json.loads(Path(outs["comparison"]).read_text())}


def _stage_commands(m: ModelPlan, p: Mapping[str, Any], test_file: Path) -> dict[str, str]:
    """The CLI commands equivalent to this model's stages (for the report's provenance)."""
    cmds = {"train": f"library call run_training (preset {m.preset}) -> {p['trained']}"}
    if "fold_info" in p:
        cmds["fold"] = f"spikedeploy fold {p['trained']} -o {p['deployed']}"
    cmds["export"] = f"spikedeploy export-nir {p['deployed']} --quantized -o {p['nir']}"
    cmds["lava"] = f"spikedeploy lava-run {p['nir']} --data {test_file} --out {p['results']}"
    cmds["compare"] = f"spikedeploy compare {p['deployed']} --data {test_file} --lava-results {p['results']}"
    return cmds


def _accuracy_chain(m: ModelPlan, p: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{stage: {"acc", "on"}} from training to Lava."""
    cmp = p["comparison"]
    n = cmp["n_samples"]
    on_lava = f"the Lava run's {n} test samples"
    chain: dict[str, dict[str, Any]] = {}
    t = p.get("train_info", {})
    if "test_acc" in t:
        chain[f"{m.name} trained (float)"] = {"acc": t["test_acc"], "on": "test file"}
    f = (p.get("fold_info") or {}).get("accuracy")
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
    return chain


__all__ = ["DEFAULT_MODELS", "MANIFEST", "STAGES", "ModelPlan", "PipelineConfig", "PipelineResult", "StageRecord",
           "run_pipeline"]
