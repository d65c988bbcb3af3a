"""The fold stage: a GPN, s2net or pr-v2 checkpoint -> a LIF / CUBA-LIF checkpoint.

:func:`fold` loads the checkpoint (weights only), bins the data folder as the checkpoint
says and splits it with the source's own training seed and validation fraction (so the
calibration and fine-tuning samples are its training samples, never its validation or
test samples), folds the network with the fold of its neuron kind
(:data:`spikedeploy.fold.FOLDERS`), optionally distils it towards the source, and saves it
atomically as a LIF / CUBA-LIF checkpoint whose ``extra["fold"]`` holds the report:
the accuracy of the source network (under its kind, e.g. ``"gpn"``), the folded and
the fine-tuned network on the validation split and the test file.

``target``: the chip the fold is for. ``"loihi1"`` (the default) is the fold above: binary
spikes, gates made constants. ``"loihi2"`` keeps what Loihi 2 can run
(:data:`spikedeploy.fold.LOIHI2_FOLDERS`): a pr-v2 network keeps its forget gates (computed
by the neuron) and its graded outputs, a GPN its four gates (computed from a graded
broadcast of its state); either is written as a Loihi 2 integer network file
(:mod:`spikedeploy.quant.graded_file`, ``.npz``) with the accuracy of the source, of the
float network with hard (piecewise-linear) gates and of the integers (emulator). Other
networks need no graded spikes: they are folded as for Loihi 1 (binary spikes run on
Loihi 2 as they are), and the report says so.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from ..atomic import check_outputs
from ..data.shd import BinningConfig
from ..errors import ConfigError, DataFormatError
from ..fold import (LOIHI2_FOLDERS, FoldConfig, cluster_decays, distill, fold_network, format_graded_report,
                    format_report, load_foldable_checkpoint, logits_of, plot_decays)
from ..models.networks import SpikingNetwork
from ..paths import default_data_dir
from ..quant.graded_file import is_graded_file, save_graded
from ..quant.loihi2_emulator import graded_accuracy
from ..training.checkpoint import save_checkpoint
from ..training.config import TrainConfig
from ..training.distributed import pick_device
from ..training.loop import TensorData, evaluate, load_split
from .convert import ForeignSource, checkpoint_of

_REMEDY_DATA = ("DIR must hold train.h5 and test.h5 in the SHD format; build the default data set with "
                "`spikedeploy data synth-digits` (see `spikedeploy data where`)")


@dataclass(frozen=True)
class FoldOptions:
    """What to fold and how.

    checkpoint  a GPN, s2net or pr-v2 checkpoint (``spikedeploy train``)
    out         the folded checkpoint to write (None: ``folded.pt``, or ``folded-loihi2.npz`` for a Loihi 2
                pr-v2 fold)
    data_dir    folder with train.h5 and test.h5 (None: the built-in data set)
    config      the fold's settings (:class:`~spikedeploy.fold.FoldConfig`)
    device      where the networks run (``cpu``, ``auto``, ``cuda[:N]``)
    threads     torch CPU threads (None: torch's own choice)
    plot        also draw each layer's decays and their K profiles into this PNG
    foreign     read ``checkpoint`` as a foreign model file with this reader (``--from``)
    target      ``"loihi1"`` or ``"loihi2"`` (module docstring); a Loihi 2 pr-v2 fold writes ``out`` as
                an integer network file, which must end in ``.npz``
    """

    checkpoint: Path
    out: Path | None = None
    data_dir: Path | None = None
    config: FoldConfig = FoldConfig()
    device: str = "cpu"
    threads: int | None = None
    plot: Path | None = None
    progress: bool = True
    foreign: ForeignSource | None = None
    target: str = "loihi1"

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError("--target", f"unknown target {self.target!r}", valid=TARGETS)


#: The chips a fold can be for (module docstring).
TARGETS = ("loihi1", "loihi2")


@dataclass(frozen=True)
class FoldResult:
    """The folded checkpoint (or Loihi 2 network file), the full report (also stored in it) and the plot."""

    checkpoint: Path
    report: Mapping[str, Any] = field(default_factory=dict)
    plot: Path | None = None

    @property
    def accuracy(self) -> dict[str, dict[str, Any]]:
        return self.report["accuracy"]


def fold(options: FoldOptions, log: Callable[[str], None] | None = None) -> FoldResult:
    """Fold ``options.checkpoint`` into ``options.out`` (module docstring)."""
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    checkpoint = Path(options.checkpoint)
    data_dir = Path(options.data_dir) if options.data_dir is not None else default_data_dir()
    config = options.config
    inputs = {"checkpoint": checkpoint, "training data": data_dir / "train.h5", "test data": data_dir / "test.h5"}
    # before the work
    check_outputs({"folded checkpoint (-o)": options.out, "decay plot (--plot)": options.plot}, inputs)
    if options.threads:
        torch.set_num_threads(options.threads)
    if options.foreign is None and is_graded_file(checkpoint):
        raise ConfigError("checkpoint", f"{checkpoint} is a Loihi 2 integer network (graded spikes between layers, "
                          "gates computed): it only runs graded and has no Loihi 1 form",
                          remedy=f"fold its source checkpoint (--target {options.target}) instead")
    with checkpoint_of(checkpoint, options.foreign) as path:
        source, meta = load_foldable_checkpoint(path)
    kind = source.config.neuron
    graded = options.target == "loihi2" and kind in LOIHI2_FOLDERS
    if options.out is None:
        options = dataclasses.replace(options, out=Path("folded-loihi2.npz" if graded else "folded.pt"))
        check_outputs({"folded checkpoint (-o)": options.out}, inputs)
    out = Path(options.out)
    if graded:
        _check_graded_options(options)
    _check_data_dir(data_dir)
    binning = meta.get("binning") or BinningConfig()
    tc = TrainConfig.from_dict(meta["training"]) if meta.get("training") else TrainConfig()
    train, val, test, binning, info = load_split(data_dir, binning, source.config, tc.val_fraction, tc.seed,
                                                 progress=options.progress)
    dev = pick_device(options.device)
    source.to(dev).eval()
    calib = _calibration_indices(len(train), config)
    if graded:
        return _fold_graded(options, source, (train, val, test), calib, binning, info, dev, say, t_start)
    target_note = _target_note(options.target, kind)
    if target_note:
        say(target_note)
    say(f"folding {kind} {list(source.config.hidden)} with statistics of {calib.numel()} training samples, "
        f"K = {config.clusters} decay profiles")
    net, report = fold_network(source, train.x[calib], config, progress=options.progress)
    acc, agree, finetune = _evaluate_and_distill(source, net, report, train, val, test, config, dev,
                                                 options.progress, say)
    report.update(target=options.target, graded=False, accuracy=acc, test_argmax_agreement_with_source=agree,
                  finetune=finetune,
                  source_checkpoint=str(checkpoint), data=info,
                  split={"val_fraction": tc.val_fraction, "seed": tc.seed}, seconds=time.perf_counter() - t_start)
    if target_note:
        report["notes"] = [*report.get("notes", []), target_note]
    saved = _save(out, net, report, kind, meta, binning, checkpoint, info)
    plot = plot_decays(report, options.plot) if options.plot is not None else None
    return FoldResult(saved, report, plot)


def _target_note(target: str, kind: str) -> str | None:
    """What a ``--target loihi2`` fold of a network without a Loihi 2 fold does (None for loihi1)."""
    if target != "loihi2":
        return None
    return (f"--target loihi2: a {kind} network needs no graded spikes between its layers: folded as for loihi1 "
            "(binary spikes run on Loihi 2 as they are)")


def _check_graded_options(options: FoldOptions) -> None:
    """A Loihi 2 fold writes a .npz integer network and has nothing to fine-tune."""
    out = Path(options.out)
    if out.suffix != ".npz":
        raise ConfigError("-o/--out", f"{out}: a Loihi 2 fold is an integer network file, written as .npz",
                          remedy=f"pass -o {out.with_suffix('.npz').name}")
    if options.config.finetune_epochs:
        raise ConfigError("--finetune-epochs", "distillation fine-tunes a Loihi 1 fold's LIF network; a Loihi 2 "
                          "fold keeps the source's own weights", remedy="leave --finetune-epochs at 0")
    if options.plot is not None:
        raise ConfigError("--plot", "draws a Loihi 1 fold's decay profiles; a Loihi 2 fold keeps the gates",
                          remedy="drop --plot")


def _fold_graded(options: FoldOptions, source: SpikingNetwork, splits: tuple[TensorData, ...], calib: torch.Tensor,
                 binning: BinningConfig, info: Mapping[str, Any], dev: torch.device, say: Callable[[str], None],
                 t_start: float) -> FoldResult:
    """Onto Loihi 2: the integer network with its gates computed, its accuracy (source, float with hard
    gates, integers) on the validation split and the test file, saved as a Loihi 2 network file."""
    out, config = Path(options.out), options.config
    kind = source.config.neuron
    fold_loihi2, hard_logits = LOIHI2_FOLDERS[kind]
    say(f"folding {kind} {list(source.config.hidden)} for Loihi 2 (gates computed, graded spikes) with "
        f"{calib.numel()} calibration samples")
    graded, report = fold_loihi2(source, splits[0].x[calib], batch_size=config.batch_size, progress=options.progress)
    graded = dataclasses.replace(graded, metadata={**graded.metadata, "binning": binning.to_dict()})
    acc: dict[str, Any] = {kind: {}, "hard_gates": {}, "loihi2": {}}
    for split, data in zip(("val", "test"), splits[1:]):
        acc[kind][split] = _accuracy(source, data, config.batch_size, dev)
        hard = hard_logits(source, data.x, max(config.batch_size, 128))
        acc["hard_gates"][split] = {"acc": int((hard.argmax(1) == data.y.cpu()).sum()) / max(len(data.y), 1)}
        acc["loihi2"][split] = graded_accuracy(graded, data.x.cpu(), data.y.cpu(), binarize=True)
    if any(bool((d.x > 1).any()) for d in splits[1:]):
        report["notes"].append("the data holds spike counts > 1 (binary = false): the integer network's input spikes "
                               "are binary, so its accuracy is measured with counts clipped to 1")
    report.update(accuracy=acc, source_checkpoint=str(options.checkpoint), data=info,
                  seconds=time.perf_counter() - t_start)
    saved = save_graded(out, graded, report)
    return FoldResult(saved, report, None)


def _check_data_dir(data_dir: Path) -> None:
    if not data_dir.exists():
        raise DataFormatError(data_dir, "data folder not found", remedy=_REMEDY_DATA)
    if not data_dir.is_dir():
        raise DataFormatError(data_dir, "not a folder", remedy=_REMEDY_DATA)


def _calibration_indices(n_train: int, config: FoldConfig) -> torch.Tensor:
    """``config.calib_samples`` training indices (0: all), drawn with the fold's seed, sorted."""
    gen = torch.Generator().manual_seed(config.seed)
    n_cal = n_train if config.calib_samples == 0 else min(config.calib_samples, n_train)
    return torch.randperm(n_train, generator=gen)[:n_cal].sort().values


def _accuracy(net: SpikingNetwork, data: TensorData, batch_size: int, device: torch.device) -> dict[str, Any]:
    m = evaluate(net, data, batch_size=max(batch_size, 128), device=device)
    return {"acc": m["acc"], "loss": m["loss"], "rates": m["rates"]}


def _evaluate_and_distill(source: SpikingNetwork, net: SpikingNetwork, report: dict[str, Any], train: TensorData,
                          val: TensorData, test: TensorData, config: FoldConfig, dev: torch.device, progress: bool,
                          say: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, float], Any]:
    """Accuracy of the source and the folded network (and, after distillation, the fine-tuned
    one) on the validation split and the test file; their test argmax agreement with the source."""
    kind, bs = source.config.neuron, config.batch_size

    def both(model: SpikingNetwork) -> dict[str, Any]:
        return {"val": _accuracy(model, val, bs, dev), "test": _accuracy(model, test, bs, dev)}

    acc = {kind: both(source), "folded": both(net)}
    source_test = logits_of(source, test.x, bs).argmax(1)
    agreement = lambda: float((logits_of(net, test.x, bs).argmax(1) == source_test).float().mean())  # noqa: E731
    agree = {"folded": agreement()}
    finetune = None
    if config.finetune_epochs > 0:
        finetune = distill(net, source, TensorData(train.x, train.y), val, config, progress=progress, log=say)
        acc["finetuned"] = both(net)
        agree["finetuned"] = agreement()
        if config.finetune_decays:
            for rep, layer in zip(report["layers"], net.layers):
                param = rep["decay"].get("param", "dv")
                cl = cluster_decays(layer.neuron.neuron_params()[param].double().numpy(), config.clusters)
                rep["decay_after_finetune"] = {"param": param, "profiles": [float(c) for c in cl.centres],
                                               "sizes": cl.sizes}
    return acc, agree, finetune


def _save(out: Path, net: SpikingNetwork, report: Mapping[str, Any], kind: str, meta: Mapping[str, Any],
          binning: BinningConfig, checkpoint: Path, info: Mapping[str, Any]) -> Path:
    """The folded network as a LIF / CUBA-LIF checkpoint (CPU, float32) with the fold report."""
    acc = report["accuracy"]
    final = acc.get("finetuned", acc["folded"])
    metrics = {"test_acc": final["test"]["acc"], "test_loss": final["test"]["loss"],
               "test_firing_rates": final["test"]["rates"], "best_val_acc": final["val"]["acc"],
               "source_test_acc": acc[kind]["test"]["acc"], "source_kind": kind}
    extra = {"fold": report, "source": {"checkpoint": str(checkpoint), "extra": meta.get("extra", {}),
                                        "metrics": {k: v for k, v in (meta.get("metrics") or {}).items()
                                                    if k != "history"}},
             "data": info}
    return save_checkpoint(out, net.to("cpu", torch.float32), binning=binning, training=None, metrics=metrics,
                           seed=meta.get("seed"), extra=extra)


__all__ = ["FoldConfig", "FoldOptions", "FoldResult", "TARGETS", "fold", "format_graded_report", "format_report"]
