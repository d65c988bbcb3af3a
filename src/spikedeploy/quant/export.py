"""Checkpoint -> NIR graph (optionally with Loihi integers): what ``spikedeploy export-nir`` runs.

:func:`export_checkpoint` loads a checkpoint with ``weights_only`` (refusing anything
else, see :mod:`spikedeploy.training.checkpoint`), reads it into a NetworkSpec
(:func:`spikedeploy.models.to_spec.checkpoint_to_spec`; an unfolded GPN is refused
with the hint to run ``spikedeploy fold`` first), optionally quantises it
(:func:`spikedeploy.quant.loihi.quantize`, calibrated on samples of ``DIR/train.h5``
binned as the checkpoint was trained) and writes the graph with
:func:`spikedeploy.nir_io.export.write_nir`: atomically, verified by re-import, with
the LoihiNetwork under ``spikedeploy.quantization`` and the model/data configuration
(model, binning, training, preset, calibration data, quantiser settings and report)
under ``spikedeploy.config``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError, ShapeMismatchError
from ..netspec import NetworkSpec


@dataclass
class ExportResult:
    path: Path | None             # the NIR file written (None when nothing was written)
    spec: NetworkSpec
    loihi: Any                    # LoihiNetwork or None
    report: Any                   # QuantReport or None
    config: dict[str, Any]        # what went into the graph's spikedeploy.config


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` sample indices spread evenly over the classes (seeded), in class-interleaved order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(labels.size)
    rank = np.empty(labels.size, dtype=np.int64)
    for c in np.unique(labels):
        members = perm[labels[perm] == c]
        rank[members] = np.arange(members.size)
    order = perm[np.lexsort((labels[perm], rank[perm]))]
    return np.sort(order[:min(n, labels.size)])


def calibration_data(data_dir: str | Path, binning: Any, input_size: int, n: int, seed: int = 0,
                     split: str = "train"):
    """``(x [n, T, F] float32, y [n] int64, binning, info)``: ``n`` stratified samples of
    ``data_dir/<split>.h5`` binned with ``binning`` (a BinningConfig; None: the defaults,
    with the pooling that gives ``input_size`` features)."""
    from ..data.shd import BinningConfig, ShdDataset, load_spikes

    path = Path(data_dir) / f"{split}.h5"
    if not path.is_file():
        raise DataFormatError(path, f"no {split}.h5 to calibrate on",
                              remedy="pass --data DIR with DIR/train.h5 in the SHD format, or build the default "
                                     "data set with `spikedeploy data synth-digits` (see `spikedeploy data where`)")
    spikes = load_spikes(path)
    assumed = binning is None
    if binning is None:
        pool = spikes.n_channels // input_size if input_size and spikes.n_channels % input_size == 0 else 1
        binning = BinningConfig(pool=max(pool, 1), n_channels=spikes.n_channels)
    else:
        binning = binning.replace(n_channels=spikes.n_channels) if spikes.n_channels % binning.pool == 0 else binning
    if spikes.n_channels % binning.pool or binning.n_features != input_size:
        raise ShapeMismatchError(f"features per frame of {path} ({spikes.n_channels} channels / pool {binning.pool})",
                                 input_size, spikes.n_channels // max(binning.pool, 1),
                                 remedy="calibrate on data of the kind the model was trained on")
    idx = stratified_indices(spikes.labels, n, seed)
    ds = ShdDataset(spikes, binning, indices=idx, progress=False)
    x, y = ds.tensors()
    info = {"data_dir": str(Path(data_dir)), "file": path.name, "n_samples": int(len(idx)), "seed": int(seed),
            "binning": binning.to_dict(), "binning_assumed": assumed}
    return x, y, binning, info


def export_checkpoint(checkpoint: str | Path, out: str | Path | None, *, quantized: bool = False,
                      data_dir: str | Path | None = None, calib_samples: int = 256, headroom: float = 2.0,
                      allow_approx: bool = False, seed: int = 0, input_gain: str = "neuron",
                      weight_range: str = "max", progress: bool = False) -> ExportResult:
    """Load ``checkpoint``, build its NetworkSpec, optionally quantise, write ``out`` (NIR).

    ``out`` None: nothing is written (the ``quantize`` command). ``data_dir`` defaults to
    :func:`spikedeploy.paths.default_data_dir`; its ``train.h5`` must exist when
    ``quantized``. Errors are project exceptions (CheckpointError, ConversionError,
    QuantizationError, DataFormatError ...); nothing is written unless everything succeeds.
    """
    from ..atomic import check_output_path
    from ..models.to_spec import checkpoint_to_spec
    from ..paths import default_data_dir

    if out is not None:
        check_output_path(out)
    spec, model, meta = checkpoint_to_spec(checkpoint)
    binning = meta.get("binning")
    config: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "model": meta["model_config"].to_dict(),
        "binning": None if binning is None else binning.to_dict(),
        "training": meta.get("training"),
        "preset": (meta.get("extra") or {}).get("preset"),
        "metrics": {k: v for k, v in (meta.get("metrics") or {}).items() if k != "history"},
        "seed": meta.get("seed"),
    }
    loihi = report = None
    if quantized:
        from .loihi import QuantConfig, quantize

        ddir = Path(data_dir) if data_dir is not None else default_data_dir()
        x, y, used_binning, info = calibration_data(ddir, binning, spec.input_size, calib_samples, seed)
        qcfg = QuantConfig(headroom=headroom, allow_approx=allow_approx, weight_range=weight_range)
        loihi, report = quantize(spec, x, labels=y, config=qcfg,
                                 metadata={"checkpoint": str(checkpoint), "calibration": info})
        config["calibration"] = info
        config["quantization"] = {"config": qcfg.to_dict(), "report": report.to_dict()}
    path = None
    if out is not None:
        from ..nir_io.export import write_nir

        path = write_nir(out, spec, loihi=loihi, config=config, input_gain=input_gain)
    return ExportResult(path, spec, loihi, report, config)
