"""The export stage: checkpoint -> NIR graph, optionally with Loihi integers (``export-nir``, ``quantize``).

:func:`export` loads a checkpoint with ``weights_only`` (refusing anything else, see
:mod:`spikedeploy.training.checkpoint`), reads it into a NetworkSpec
(:func:`~spikedeploy.training.checkpoint.checkpoint_to_spec`; an unfolded GPN is refused
with the hint to run ``spikedeploy fold`` first), optionally quantises it
(:func:`spikedeploy.quant.ptq.quantize`, calibrated on samples of ``DIR/train.h5`` binned
as the checkpoint was trained) and writes the graph with
:func:`spikedeploy.nir_io.export.write_nir`: atomically, verified by re-import, with
the LoihiNetwork under ``spikedeploy.quantization`` and the model/data configuration
(model, binning, training, preset, calibration data, quantiser settings and report)
under ``spikedeploy.config``. With ``out = None`` nothing is written (``quantize``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..atomic import atomic_path, check_outputs
from ..data.sampling import calibration_set
from ..data.gsc import GscConfig, is_gsc_folder
from ..errors import ConfigError, DataFormatError
from ..fold.s2net_conv import conv_to_spec
from ..models.conv import ConvSpikingNetwork
from ..netspec import NetworkSpec
from ..nir_io.convention import INPUT_GAINS
from ..nir_io.export import write_nir
from ..nir_io.profiles import PROFILES, STANDARD_FORM
from ..paths import default_data_dir
from ..quant.loihi_network import LoihiNetwork
from ..quant.graded_input import encode, input_scale, payload_spec
from ..quant.ptq import WEIGHT_RANGES, QuantConfig, QuantReport, quantize
from ..training.checkpoint import checkpoint_to_spec, load_checkpoint
from ..training.gsc_data import gsc_samples
from .convert import ForeignSource, checkpoint_of


@dataclass(frozen=True)
class QuantOptions:
    """How to quantise: calibration samples drawn from ``DIR/train.h5`` (stratified, ``seed``),
    the headroom of the calibrated ranges, the weight range mapped onto the 8-bit grid
    (``max`` or ``mse``), and whether approximations are accepted (with a warning)."""

    calib_samples: int = 256
    headroom: float = 2.0
    allow_approx: bool = False
    weight_range: str = "max"
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.calib_samples, bool) or not isinstance(self.calib_samples, int) or self.calib_samples < 1:
            raise ConfigError("quant.calib_samples", f"must be a positive integer, got {self.calib_samples!r}")
        if isinstance(self.headroom, bool) or not isinstance(self.headroom, (int, float)) or not self.headroom >= 1:
            raise ConfigError("quant.headroom", f"must be a number >= 1, got {self.headroom!r}")
        if not isinstance(self.allow_approx, bool):
            raise ConfigError("quant.allow_approx", f"must be true or false, got {self.allow_approx!r}")
        if self.weight_range not in WEIGHT_RANGES:
            raise ConfigError("quant.weight_range", f"unknown mode {self.weight_range!r}", valid=WEIGHT_RANGES)
        object.__setattr__(self, "headroom", float(self.headroom))


@dataclass(frozen=True)
class ExportOptions:
    """What to export and where.

    checkpoint  the (folded) float checkpoint
    out         the NIR file to write (None: nothing is written)
    quantized   quantise to Loihi integers and store them in the graph
    data_dir    calibration data folder (None: the built-in data set)
    quant       the quantiser's settings
    input_gain  where the 1/(du dv) input scaling goes: ``neuron`` or ``synapse`` (norse)
    report      also write the quantisation report here (JSON)
    foreign     read ``checkpoint`` as a foreign model file with this reader (``--from``)
    consumer    the tool the graph is for (``--for``: :data:`~spikedeploy.nir_io.profiles.PROFILES`;
                ``nir``: the standard form our readers and Lava run)
    conv_nodes  write convolutional layers as NIR Conv1d nodes (``--conv-nodes``; standard form only)
    graded_input  an s2net conv checkpoint trained on GSC features: its input as graded spikes of
                this many bits (``--graded-input``, Loihi 2), calibrated on ``data_dir`` (a GSC folder)
    """

    checkpoint: Path
    out: Path | None = None
    quantized: bool = False
    data_dir: Path | None = None
    quant: QuantOptions = QuantOptions()
    input_gain: str = "neuron"
    report: Path | None = None
    progress: bool = False
    foreign: ForeignSource | None = None
    consumer: str = "nir"
    conv_nodes: bool = False
    graded_input: int = 0

    def __post_init__(self) -> None:
        if self.consumer not in PROFILES:
            raise ConfigError("--for", f"unknown consumer {self.consumer!r}", valid=tuple(PROFILES))
        if self.consumer not in STANDARD_FORM and self.quantized:
            raise ConfigError("--for", f"a graph for {self.consumer} carries no Loihi integers (they describe "
                                       "the standard form Lava runs)", remedy="drop --quantized, or export for nir")
        if self.graded_input and not self.quantized:
            raise ConfigError("--graded-input", "sets the Loihi integers' input width", remedy="add --quantized")
        if self.conv_nodes and self.consumer not in STANDARD_FORM:
            raise ConfigError("--conv-nodes", f"is for the standard form, not a graph for {self.consumer}",
                              remedy="drop --conv-nodes, or export for nir")
        if self.input_gain not in INPUT_GAINS:
            raise ConfigError("input_gain", f"unknown input gain {self.input_gain!r}", valid=INPUT_GAINS)


@dataclass(frozen=True)
class ExportResult:
    path: Path | None             # the NIR file written (None when nothing was written)
    spec: NetworkSpec
    loihi: LoihiNetwork | None
    report: QuantReport | None
    config: Mapping[str, Any]     # what went into the graph's spikedeploy.config
    report_path: Path | None = None
    notes: tuple[str, ...] = ()   # what the consumer's form changes (export-nir --for)


def export(options: ExportOptions) -> ExportResult:
    """Load the checkpoint, build its NetworkSpec, optionally quantise, write the graph
    (module docstring). Errors are project exceptions (CheckpointError, ConversionError,
    QuantizationError, DataFormatError ...); nothing is written unless everything succeeds."""
    ddir = Path(options.data_dir) if options.data_dir is not None else default_data_dir()
    check_outputs({"NIR file (-o)": options.out, "report (--report)": options.report},
                  {"checkpoint": options.checkpoint,
                   **({"calibration data": ddir / "train.h5"} if options.quantized and not options.graded_input
                      else {})})
    checkpoint = options.checkpoint
    with checkpoint_of(checkpoint, options.foreign) as path:
        spec, meta = _spec_of(path, graded=bool(options.graded_input))
    binning = meta.get("binning")
    config: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "model": meta["model_config"].to_dict(),
        "binning": None if binning is None else binning.to_dict(),
        "training": meta.get("training"),
        "preset": (meta.get("extra") or {}).get("preset"),
        "metrics": {k: v for k, v in (meta.get("metrics") or {}).items() if k != "history"},
        "seed": meta.get("seed"),
        **({"converted": meta["extra"]["converted"]} if "converted" in (meta.get("extra") or {}) else {}),
    }
    loihi = report = None
    if options.quantized:
        q = options.quant
        if options.graded_input:
            spec, x, y, info = _graded_calibration(spec, meta, ddir, options.graded_input, q)
        else:
            x, y, _, info = calibration_set(ddir, binning, spec.input_size, q.calib_samples, q.seed)
        qcfg = QuantConfig(headroom=q.headroom, allow_approx=q.allow_approx, weight_range=q.weight_range,
                           input_bits=options.graded_input)
        loihi, report = quantize(spec, x, labels=y, config=qcfg,
                                 metadata={"checkpoint": str(checkpoint), "calibration": info})
        config["calibration"] = info
        config["quantization"] = {"config": qcfg.to_dict(), "report": report.to_dict()}
    prepared = PROFILES[options.consumer](spec)
    path = None
    if options.out is not None:
        path = write_nir(options.out, spec, loihi=loihi, config=config, input_gain=options.input_gain,
                         prepared=prepared, profile="nir" if options.consumer in STANDARD_FORM else options.consumer,
                         conv_nodes=options.conv_nodes)
    report_path = None
    if report is not None and options.report is not None:
        report_path = _write_report(options.report, report)
    return ExportResult(path, spec, loihi, report, config, report_path, prepared.notes)


def _spec_of(path: Path, graded: bool = False) -> tuple[NetworkSpec, dict[str, Any]]:
    """The checkpoint's NetworkSpec and metadata; s2net's conv network through its dense fold
    (:mod:`spikedeploy.fold.s2net_conv`, reset to zero; others refused with the reason): with
    ``graded`` input its standardisation is left to the host; trained on GSC features (no
    binning) its step is their 10 ms hop."""
    model, meta = load_checkpoint(path)
    if isinstance(model, ConvSpikingNetwork):
        binning = meta.get("binning")
        return conv_to_spec(model, GscConfig().hop_ms * 1e-3 if binning is None else float(binning.dt),
                            standardise="host" if graded else "fold"), meta
    if graded:
        raise ConfigError("--graded-input", "is for s2net conv checkpoints trained on real-valued (GSC) features",
                          remedy="drop --graded-input: this model's input is spikes")
    spec, _, meta = checkpoint_to_spec(path)
    return spec, meta


def _graded_calibration(spec: NetworkSpec, meta: Mapping[str, Any], ddir: Path, bits: int, q: QuantOptions
                        ) -> tuple[NetworkSpec, Any, Any, dict[str, Any]]:
    """The network reading graded payloads and its calibration payloads, from a GSC folder's
    training split: standardised with the checkpoint's statistics, one scale (``quant.graded_input``)."""
    if not is_gsc_folder(ddir):
        raise DataFormatError(ddir, "is not a GSC folder (no testing_list.txt) to calibrate graded input on",
                              remedy="pass --data GSC_DIR, the folder the model was trained on")
    words = tuple(getattr(meta["model_config"], "words", ()))
    frames, y, idx = gsc_samples(ddir, "train", words, q.calib_samples, seed=q.seed)
    mean, std = (np.asarray(spec.metadata[k], dtype=np.float64) for k in ("input_mean", "input_std"))
    standard = (frames - mean) / std
    scale = input_scale(standard, bits)
    info = {"data_dir": str(ddir), "split": "train", "n_samples": int(len(idx)), "seed": int(q.seed),
            "input_bits": int(bits), "input_scale": float(scale), "binning": None}
    return payload_spec(spec, scale, bits), encode(standard, scale, bits), y, info


def _write_report(path: Path, report: QuantReport) -> Path:
    """The quantisation report as JSON (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=True) + "\n")
    return Path(path)
