"""A small deployed model with everything `compare` reads: toy data, checkpoint, NIR file with
the Loihi integers, and a results file made from the bit-exact emulator (the real Lava run goes
through the lava-run stage, ``stages.lava_run.lava_run``, in the tests marked ``lava``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import torch

from spikedeploy import __version__
from spikedeploy.data.shd import BinningConfig, ShdDataset
from spikedeploy.lava_backend.results import LavaResults, file_sha256, indices_sha256, write_results
from spikedeploy.metrics.comparison import Comparison
from spikedeploy.models import build_network, get_preset
from spikedeploy.nir_io import read_loihi_network, read_nir
from spikedeploy.quant.emulator import emulate
from spikedeploy.stages.compare import CompareOptions, compare
from spikedeploy.stages.export import ExportOptions, QuantOptions, export
from spikedeploy.training.checkpoint import save_checkpoint

from ..training.toy_shd import write_toy_dataset

BINNING = BinningConfig(n_steps=20, duration=0.5, binary=True, n_channels=40)
HIDDEN = 16


def make_model(preset: str = "cuba-shd", seed: int = 0, **changes):
    torch.manual_seed(seed)
    cfg = get_preset(preset).network.replace(input_size=40, n_classes=4, hidden=[HIDDEN], weight_gain=3.0,
                                             **changes)
    m = build_network(cfg).eval()
    with torch.no_grad():
        if hasattr(m.layers[0].neuron, "bias") and m.layers[0].neuron.bias is not None:
            m.layers[0].neuron.bias.uniform_(-0.02, 0.08)
    return m


def make_case(folder: Path, *, preset: str = "cuba-shd", seed: int = 0, data_dir: Path | None = None,
              n_test: int = 24) -> dict:
    """Toy data (unless given), a checkpoint and its quantised NIR file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or write_toy_dataset(folder / "data", n_train=60, n_test=n_test)
    ckpt = save_checkpoint(folder / "model.pt", make_model(preset, seed), binning=BINNING,
                           extra={"preset": preset})
    nir_path = folder / "model.nir"
    export(ExportOptions(ckpt, nir_path, quantized=True, data_dir=data_dir, quant=QuantOptions(calib_samples=60)))
    return {"data_dir": data_dir, "test": data_dir / "test.h5", "ckpt": ckpt, "nir": nir_path, "folder": folder}


def compared(checkpoint: Path, results: Path, *, nvml=None, **options) -> Comparison:
    """The compare stage on these files (no report, no progress bars): its comparison."""
    return compare(CompareOptions(Path(checkpoint), Path(results), progress=False, **options), nvml=nvml).comparison


def int_readout(net, v: np.ndarray) -> np.ndarray:
    """The integer value each prediction is the argmax of (the readout mode of the quantiser)."""
    mode = net.metadata.get("readout", "max")
    return v.max(axis=1) if mode == "max" else v[:, -1]


def binned(data_file: Path, indices: np.ndarray, binning: BinningConfig = BINNING):
    x, y = ShdDataset(data_file, binning, indices=indices, progress=False).tensors()
    return (x > 0).to(torch.uint8), y.numpy().astype(np.int64)


def results_meta(nir_path: Path, data_file: Path, indices: np.ndarray, net, *, binning=BINNING,
                 config: str = "fixed_pt", replicas: int = 1, gap_steps: int = 0, wall: float = 0.0) -> dict:
    return {"model_path": str(nir_path), "model_sha256": file_sha256(nir_path), "data_path": str(data_file),
            "data_sha256": file_sha256(data_file), "sample_indices_sha256": indices_sha256(indices),
            "config": config, "replicas": replicas, "gap_steps": gap_steps, "n_steps": binning.n_steps,
            "dt": binning.dt, "binning": binning.to_dict(), "layer_names": list(net.layer_names),
            "lava_version": "emulator-made", "wall_time_s": wall, "verified": None,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(), "spikedeploy_version": __version__}


def emulator_results(case: dict, out: Path, *, indices=None, drop_layer: str | None = None,
                     flip: tuple[str, int, int, int] | None = None, nir_path: Path | None = None,
                     save_voltage: bool = False, config: str = "fixed_pt") -> Path:
    """A results file whose spikes come from the bit-exact emulator (what a Lava run gives).

    ``drop_layer`` leaves a layer's spikes out; ``flip=(layer, sample, step, neuron)`` changes one spike.
    """
    nir_path = Path(nir_path or case["nir"])
    net = read_loihi_network(read_nir(nir_path))
    if indices is None:
        with __import__("h5py").File(case["test"], "r") as f:
            indices = np.arange(len(f["labels"]), dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    xb, y = binned(case["test"], indices)
    res = emulate(net, xb, record=("s", "v"), on_overflow="ignore")
    spikes = {k: res.spikes[k].numpy().astype(bool) for k in net.layer_names if net.layer(k).spiking}
    if drop_layer is not None:
        spikes.pop(drop_layer)
    if flip is not None:
        layer, b, t, n = flip
        spikes[layer][b, t, n] = not spikes[layer][b, t, n]
    v = res.readout.numpy()
    readout = int_readout(net, v)
    volts = {net.layer_names[-1]: v} if save_voltage else {}
    if config != "fixed_pt":
        readout, volts = readout.astype(np.float64), {k: a.astype(np.float64) for k, a in volts.items()}
    meta = results_meta(nir_path, case["test"], indices, net, config=config)
    r = LavaResults(meta=meta, sample_indices=indices, labels=y, predictions=readout.argmax(1), readout=readout,
                    spikes=spikes, readout_voltage=volts)
    return write_results(out, r)
