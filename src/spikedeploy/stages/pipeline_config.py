"""The pipeline's settings: a frozen :class:`PipelineConfig`, loadable from TOML.

::

    seed = 0
    threads = 1                  # torch CPU threads (default 1; 0: torch's own choice)
    device = "auto"              # training device

    [data]
    dir = "path/to/shd"          # a folder with train.h5 and test.h5, or leave it out and
    [data.synth]                 # give SynthConfig fields for the synthetic digits
    n_train = 120                # (none: the built-in default data set, cached)

    [binning]                    # BinningConfig fields over each preset's binning
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
    # targets = ["loihi1", "loihi2"]   # also the Loihi 2 path (pr-v2, GPN: gates computed, graded spikes)

    [fold]                       # FoldConfig fields (GPN, s2net and pr-v2 models; seed: the pipeline's)
    [quant]                      # QuantOptions fields: calib_samples, headroom, allow_approx, ...
    [lava]                       # LavaSettings fields: replicas, samples, gap_steps, verify
    [compare]                    # CompareConfig fields
    [baselines]                  # BaselineSettings: cells = ["gru", "lstm"] ([] for none), epochs, hidden

Every section becomes its stage's own frozen options (``fold``: FoldConfig, ``quant``:
QuantOptions, ``lava``: :class:`LavaSettings`, ``compare``: CompareConfig, ``synth``:
SynthConfig); ``binning`` and a model's ``model`` / ``training`` / ``fold_options`` tables
are overrides of the preset's (or the pipeline's) values and stay as the fields given.
:meth:`PipelineConfig.default` is the main job (``spikedeploy main``);
:meth:`PipelineConfig.quick` a smoke-sized run (tiny data, one epoch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..config import dataclass_from_dict, dataclass_to_dict, load_toml
from ..data.shd import BinningConfig
from ..data.synth_digits import SynthConfig
from ..errors import ConfigError
from ..fold import ALWAYS_FOLDED, LOIHI2_FOLDERS, FoldConfig, fold_needed
from ..metrics.comparison import CompareConfig
from ..training.run_config import RunConfig
from . import STAGES
from .baselines import BaselineSettings
from .export import QuantOptions

_TOP_KEYS = ("seed", "threads", "device", "data", "binning", "models", "baselines", "fold", "quant", "lava",
             "compare")
#: The main job's fold settings (the pipeline's seed is added).
MAIN_FOLD = {"clusters": 4, "calib_samples": 512, "finetune_epochs": 6, "label_weight": 1.0, "finetune_decays": True}


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _known(section: str, given: Mapping[str, Any], valid: Sequence[str]) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise ConfigError(section, f"expected a table of settings, got {type(given).__name__}")
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(section, f"unknown setting(s) {', '.join(unknown)}", valid=sorted(valid))
    return dict(given)


@dataclass(frozen=True)
class LavaSettings:
    """The lava-run stage's settings in the pipeline (the paths are the pipeline's): see
    :class:`~spikedeploy.stages.lava_run.LavaRunOptions`."""

    replicas: int | None = None
    samples: int | None = None
    gap_steps: int | None = None
    verify: bool = False

    def __post_init__(self) -> None:
        for name, low in (("replicas", 1), ("samples", 1), ("gap_steps", 0)):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise ConfigError(f"lava.{name}", f"must be an integer >= {low}, got {v!r}")
        if not isinstance(self.verify, bool):
            raise ConfigError("lava.verify", f"must be true or false, got {self.verify!r}")


def _typed(cls: type, value: Any, section: str) -> Any:
    """``value`` as ``cls``: as it is, or built from a table of its fields."""
    return value if isinstance(value, cls) else dataclass_from_dict(cls, value, section=section)


# ----------------------------------------------------------------------------- one model

#: What a model trains on: the pipeline's data, or the GSC layout of the same synthetic utterances.
MODEL_DATA = ("default", "gsc")
#: A model's deployment paths (``targets``): the Loihi 1 path, optionally with the Loihi 2 one.
MODEL_TARGETS = (("loihi1",), ("loihi1", "loihi2"))
#: The graded input width of a model trained on GSC features (Loihi 2).
GSC_INPUT_BITS = 8


@dataclass(frozen=True)
class ModelPlan:
    """One model of the pipeline: a preset, its size and training length, and overrides.

    ``fold``: fold the network (None: exactly when its neuron kind has a fold - GPN, s2net,
    pr-v2 - which it needs before export; LIF / CUBA-LIF networks never fold).
    ``model`` / ``training``: NetworkConfig / TrainConfig fields to override.
    ``fold_options``: FoldConfig fields for this model, over the pipeline's ``[fold]`` table.
    ``data``: ``"default"`` (the pipeline's SHD-format data) or ``"gsc"`` (the same synthetic
    utterances in GSC's layout, s2net's log-Mel features: deployed with 8-bit graded input).
    ``targets``: the deployment paths, ``("loihi1",)`` (the default: fold, export, Lava, compare)
    or ``("loihi1", "loihi2")``, which adds the ``loihi2`` step: ``fold --target loihi2`` and
    ``lava-run`` of the Loihi 2 network file (pr-v2 and GPN models; for other kinds the step
    says they need no graded spikes and is skipped). The report's accuracy chain shows both.
    """

    name: str
    preset: str
    hidden: tuple[int, ...] | None = None
    epochs: int | None = None
    fold: bool | None = None
    model: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    fold_options: Mapping[str, Any] = field(default_factory=dict)
    data: str = "default"
    targets: tuple[str, ...] = ("loihi1",)

    def __post_init__(self) -> None:
        if self.data not in MODEL_DATA:
            raise ConfigError(f"models[{self.name}].data", f"unknown data {self.data!r}", valid=MODEL_DATA)
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        if targets not in MODEL_TARGETS:
            raise ConfigError(f"models[{self.name}].targets", f"{list(targets)}: the Loihi 1 path carries the report",
                              valid=[str(list(t)) for t in MODEL_TARGETS])
        if "loihi2" in targets and self.data != "default":
            raise ConfigError(f"models[{self.name}].targets", "the Loihi 2 path takes the SHD-format data's spikes, "
                              f"not {self.data!r} features", remedy='drop "loihi2" for this model')
        object.__setattr__(self, "targets", targets)
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
            try:
                FoldConfig.from_dict(self.fold_options)
            except ConfigError as err:
                raise ConfigError(f"models[{self.name}].fold_options: {err.field}", err.problem, valid=err.valid,
                                  remedy=err.remedy) from None

    def run_config(self, binning: Mapping[str, Any] | None, seed: int | None = None) -> RunConfig:
        """The resolved ``RunConfig`` (preset < overrides < hidden/epochs/seed)."""
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
        network = self.run_config(binning).network
        kind, foldable = network.neuron, fold_needed(network)
        if self.fold and not foldable:
            raise ConfigError(f"models[{self.name}].fold", f"a {kind!r} network has no fold",
                              valid=sorted(ALWAYS_FOLDED))
        if self.fold is False and foldable:
            raise ConfigError(f"models[{self.name}].fold", f"a {kind!r} network must be folded before export",
                              remedy="leave fold out (or true) for this model")
        return foldable

    def loihi2(self, binning: Mapping[str, Any] | None = None) -> bool:
        """True when this model takes the Loihi 2 path (asked for, and its neuron kind has a Loihi 2 fold)."""
        return "loihi2" in self.targets and self.run_config(binning).network.neuron in LOIHI2_FOLDERS

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
    # s2net's convolutional network on Speech Commands' layout of the same utterances (s2net's
    # log-Mel features; conv2d layers whose time taps are synaptic delays; reset to zero, so
    # that it deploys exactly without folding; 8-bit graded input on Loihi 2: docs/s2net-conv.md),
    # two layers of 8 channels and 6 epochs to keep the main job within 10 minutes on a fresh
    # machine (the GSC layout is built beside the data).
    ModelPlan("s2net-gsc", "s2net-gsc-small", epochs=6, data="gsc",
              model={"reset": "zero", "b_min": 0.1,
                     "layers": [{"channels": 8, "kernel": [4, 3], "dilation": [1, 1]},
                                {"channels": 8, "kernel": [4, 3], "dilation": [4, 3]}]}),
)


# ----------------------------------------------------------------------------- the pipeline

def _check_top(seed: Any, threads: Any, device: Any) -> None:
    """The top-level settings, checked before anything else reads them."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", f"must be an integer >= 0, got {seed!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 0):
        raise ConfigError("threads", f"must be an integer >= 0 (0: torch's own choice), got {threads!r}")
    if not isinstance(device, str) or not device:
        raise ConfigError("device", f"must be a device name (auto, cpu, cuda, cuda:N), got {device!r}")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline does (module docstring); frozen, echoed into every report.

    Each stage's section may be given as its options or as a table of their fields
    (``fold`` and ``quant`` tables without a ``seed`` take the pipeline's).
    """

    data_dir: str | None = None
    synth: SynthConfig | None = None
    binning: Mapping[str, Any] = field(default_factory=lambda: {"n_steps": 40, "binary": True})
    models: tuple[ModelPlan, ...] = DEFAULT_MODELS
    fold: FoldConfig = field(default_factory=lambda: dict(MAIN_FOLD))
    quant: QuantOptions = field(default_factory=lambda: {"calib_samples": 256})
    lava: LavaSettings = LavaSettings()
    compare: CompareConfig = CompareConfig()
    baselines: BaselineSettings = BaselineSettings()
    seed: int = 0
    threads: int | None = 1
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_top(self.seed, self.threads, self.device)
        if self.data_dir is not None and self.synth is not None:
            raise ConfigError("data", "give either dir (an existing data set) or synth (build one), not both")
        if self.synth is not None and not isinstance(self.synth, SynthConfig):
            object.__setattr__(self, "synth", SynthConfig.from_dict(dict(self.synth)))
        BinningConfig.from_dict(dict(self.binning))
        object.__setattr__(self, "binning", dict(self.binning))
        models = tuple(m if isinstance(m, ModelPlan) else ModelPlan.from_dict(m) for m in self.models)
        if not models:
            raise ConfigError("models", "give at least one model")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError("models", f"model names must be unique, got {names}")
        object.__setattr__(self, "models", models)
        for m in models:
            m.folds(self.binning)
        for name, cls in (("fold", FoldConfig), ("quant", QuantOptions)):
            value = getattr(self, name)
            if not isinstance(value, cls):
                value = {"seed": self.seed, **_known(name, value, [f.name for f in dataclasses.fields(cls)])}
            object.__setattr__(self, name, _typed(cls, value, name))
        object.__setattr__(self, "lava", _typed(LavaSettings, self.lava, "lava"))
        object.__setattr__(self, "compare", _typed(CompareConfig, self.compare, "compare"))
        object.__setattr__(self, "baselines", _typed(BaselineSettings, self.baselines, "baselines"))

    # --- presets -------------------------------------------------------------------------
    @classmethod
    def default(cls) -> "PipelineConfig":
        """The main job: the built-in data set; a GPN, a LIF, an s2net and a pr-v2 network of 128
        neurons, T = 40 binary frames, and s2net's conv2d network on the same utterances in GSC's
        layout (graded input); the GPN, s2net and pr-v2 folded and fine-tuned (6 epochs of
        distillation); one CPU thread."""
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
                "data": {"dir": self.data_dir, "synth": None if self.synth is None else self.synth.to_dict()},
                "binning": _plain(self.binning), "models": [m.to_dict() for m in self.models],
                "fold": self.fold.to_dict(), "quant": dataclass_to_dict(self.quant),
                "lava": dataclass_to_dict(self.lava), "compare": self.compare.to_dict(),
                "baselines": dataclass_to_dict(self.baselines)}

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
        if "binning" in d:
            kw["binning"] = {**base.binning, **_known("binning", d["binning"], list(d["binning"]))}
        for name in ("fold", "quant", "lava", "compare", "baselines"):
            if name in d:
                kw[name] = {**dataclass_to_dict(getattr(base, name)), **_known(name, d[name], list(d[name]))}
        for name in ("fold", "quant"):      # their seed follows the pipeline's unless given
            if "seed" in d and "seed" not in d.get(name, {}):
                kw[name] = {**kw.get(name, dataclass_to_dict(getattr(base, name))), "seed": d["seed"]}
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
        doc = load_toml(path)
        try:
            return cls.from_dict(doc, base=base)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err.field}", err.problem, valid=err.valid, remedy=err.remedy) from None

    # --- derived --------------------------------------------------------------------------
    def baseline_size(self) -> tuple[int, int]:
        """(hidden, epochs) of the baselines: as set, else the first model's first hidden width
        and the longest model training."""
        b = self.baselines
        hidden = b.hidden or self.models[0].run_config(self.binning).network.hidden[0]
        epochs = b.epochs or max(m.run_config(self.binning).training.epochs for m in self.models)
        return int(hidden), int(epochs)

    def fold_config(self, model: ModelPlan | None = None) -> FoldConfig:
        """The FoldConfig of ``model`` (the ``[fold]`` settings under its own ``fold_options``)."""
        return self.fold.replace(**(model.fold_options if model else {}))


__all__ = ["DEFAULT_MODELS", "MAIN_FOLD", "STAGES", "LavaSettings", "ModelPlan", "PipelineConfig"]
