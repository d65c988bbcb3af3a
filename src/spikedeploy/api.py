"""The Python API: the functions the command line calls, for use from a script or a notebook.

Importable from the package top (``spikedeploy.load_model`` ...; loaded on first use)::

    import spikedeploy as sd

    net = sd.load_model("SHD_GPN.pt", source="hr-gpn-snn", time_steps=20)   # or a spikedeploy checkpoint
    out = sd.simulate(net, frames)              # frames [batch, T, channels] -> .logits, .spikes
    sd.convert("SHD_GPN.pt", "gpn.pt", source="hr-gpn-snn", time_steps=20)
    sd.fold("gpn.pt", "folded.pt", data_dir="data/")
    sd.export_nir("folded.pt", "folded.nir", quantized=True, data_dir="data/")
    run = sd.run_lava("folded.nir", "data/test.h5", out="results.npz", samples=100, verify=True)
    report = sd.compare("folded.pt", "results.npz", out="report/")

    conv = sd.from_module(snntorch_sequential)  # snnTorch / norse / SpikingJelly: conv.network, conv.notes
    sd.save_model(conv, "from_snntorch.pt")

Each function takes the stage's settings as keywords (the fields of its options dataclass
in :mod:`spikedeploy.stages`) and returns the stage's typed result; errors are the
project's exceptions (:mod:`spikedeploy.errors`), which name the file or field and a remedy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.shd import BinningConfig
from .errors import ConfigError
from .foreign import Converted, ForeignOptions, read_foreign
from .foreign.modules import from_module as _from_module
from .models.networks import SpikingNetwork
from .models.to_spec import hidden_name
from .stages.compare import CompareOptions, CompareResult
from .stages.compare import compare as _compare
from .stages.convert import ConvertOptions, ConvertResult, ForeignSource
from .stages.convert import convert as _convert
from .stages.export import ExportOptions, ExportResult, QuantOptions
from .stages.export import export as _export
from .stages.fold import FoldConfig, FoldOptions, FoldResult
from .stages.fold import fold as _fold
from .stages.lava_run import LavaRunOptions, LavaRunSummary
from .stages.lava_run import lava_run as _lava_run
from .training.checkpoint import load_checkpoint, save_checkpoint


def _source(source: str | None, options: dict[str, Any]) -> ForeignSource | None:
    if source is None:
        if options:
            raise ConfigError("source", f"{sorted(options)} apply to foreign files only",
                              remedy="give source= (the --from name) or leave them out")
        return None
    return ForeignSource(source, ForeignOptions(**options))


def load_model(path: str | Path, *, source: str | None = None, **foreign: Any) -> SpikingNetwork:
    """The network in ``path`` in evaluation mode: a spikedeploy checkpoint, or with ``source``
    (a ``--from`` name) a foreign state dict (``foreign``: :class:`~spikedeploy.foreign.ForeignOptions`
    fields, e.g. ``time_steps``). Its call on float frames ``[batch, T, channels]`` returns
    logits ``[batch, classes]``."""
    how = _source(source, foreign)
    if how is None:
        return load_checkpoint(path)[0].eval()
    return read_foreign(path, how.reader, how.options).network


@dataclass(frozen=True)
class Simulation:
    """``logits`` [batch, classes]; ``spikes``: layer name -> [batch, T, neurons], in network order."""

    logits: torch.Tensor
    spikes: dict[str, torch.Tensor]


@torch.no_grad()
def simulate(model: SpikingNetwork | Converted, frames: torch.Tensor | np.ndarray) -> Simulation:
    """Run ``model`` (evaluation semantics) on ``frames`` [batch, T, channels]."""
    net = model.network if isinstance(model, Converted) else model
    if not isinstance(net, SpikingNetwork):
        raise ConfigError("model", f"expected a spikedeploy network, got {type(net).__name__}",
                          remedy="load it with load_model() or from_module()")
    ref = next(net.parameters())
    x = torch.as_tensor(frames).to(ref.device, ref.dtype)
    was = net.training
    net.eval()
    try:
        logits, spikes = net(x, return_spikes=True)
    finally:
        net.train(was)
    return Simulation(logits, {hidden_name(k): s for k, s in enumerate(spikes)})


def from_module(module: nn.Module, *, time_steps: int | None = None,
                binning: BinningConfig | None = None) -> Converted:
    """A live snnTorch / norse / SpikingJelly ``nn.Sequential`` as a spikedeploy network
    (:func:`spikedeploy.foreign.modules.from_module`): ``.network``, ``.notes``, ``.layout``."""
    return _from_module(module, time_steps=time_steps, binning=binning)


def save_model(model: SpikingNetwork | Converted, path: str | Path, *, binning: BinningConfig | None = None) -> Path:
    """Save a network (or a conversion, with its binning and notes) as a spikedeploy checkpoint."""
    extra: dict[str, Any] = {}
    if isinstance(model, Converted):
        binning = binning or model.binning
        extra["converted"] = {"reader": model.reader, "layout": model.layout, "notes": list(model.notes)}
        model = model.network
    return save_checkpoint(path, model, binning=binning, extra=extra)


def convert(source_file: str | Path, out: str | Path, *, source: str, **foreign: Any) -> ConvertResult:
    """``spikedeploy convert``: a foreign state dict -> a spikedeploy checkpoint."""
    return _convert(ConvertOptions(Path(source_file), Path(out), _source(source, foreign)))


def fold(checkpoint: str | Path, out: str | Path, *, data_dir: str | Path | None = None,
         source: str | None = None, config: FoldConfig = FoldConfig(), **options: Any) -> FoldResult:
    """``spikedeploy fold`` (``options``: FoldOptions fields, e.g. ``device``, ``plot``)."""
    foreign = {k: options.pop(k) for k in list(options) if k in ForeignOptions.__dataclass_fields__}
    return _fold(FoldOptions(Path(checkpoint), Path(out), None if data_dir is None else Path(data_dir), config,
                             progress=options.pop("progress", False), foreign=_source(source, foreign), **options))


def export_nir(checkpoint: str | Path, out: str | Path | None, *, quantized: bool = False,
               data_dir: str | Path | None = None, source: str | None = None, quant: QuantOptions = QuantOptions(),
               **options: Any) -> ExportResult:
    """``spikedeploy export-nir`` (``out=None``: nothing written, as ``quantize``)."""
    foreign = {k: options.pop(k) for k in list(options) if k in ForeignOptions.__dataclass_fields__}
    return _export(ExportOptions(Path(checkpoint), None if out is None else Path(out), quantized,
                                 None if data_dir is None else Path(data_dir), quant,
                                 foreign=_source(source, foreign), **options))


def run_lava(model: str | Path, data: str | Path, **options: Any) -> LavaRunSummary:
    """``spikedeploy lava-run`` (``options``: LavaRunOptions fields, e.g. ``samples``, ``verify``, ``out``)."""
    if "out" in options and options["out"] is not None:
        options["out"] = Path(options["out"])
    return _lava_run(LavaRunOptions(Path(model), Path(data), **options))


def compare(checkpoint: str | Path, results: str | Path, **options: Any) -> CompareResult:
    """``spikedeploy compare`` (``options``: CompareOptions fields, e.g. ``out``, ``data``)."""
    if "out" in options and options["out"] is not None:
        options["out"] = Path(options["out"])
    return _compare(CompareOptions(Path(checkpoint), Path(results), **options))


__all__ = ["Simulation", "compare", "convert", "export_nir", "fold", "from_module", "load_model", "run_lava",
           "save_model", "simulate"]
