"""An output path that names one of the command's inputs is refused before anything is
written, naming both (exit status 2); the input stays as it was. Paths are compared as files
(symbolic links, ``./``), not as strings."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from spikedeploy.cli import main
from spikedeploy.data.wav import write_wav
from spikedeploy.models import build_network, get_preset
from spikedeploy.stages.export import ExportOptions, QuantOptions, export
from spikedeploy.training.checkpoint import save_checkpoint

from ..stages.compare_setup import emulator_results, make_case
from ..training.toy_shd import write_toy_dataset
from .test_lava_cli import BINARY


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    data = write_toy_dataset(folder / "data", n_train=40, n_test=12)
    torch.manual_seed(0)
    cfg = get_preset("lif-shd").network.replace(input_size=40, n_classes=4, hidden=[8])
    ckpt = save_checkpoint(folder / "m.pt", build_network(cfg).eval(), binning=BINARY)
    nir_path = export(ExportOptions(ckpt, folder / "m.nir", quantized=True, data_dir=data,
                                    quant=QuantOptions(calib_samples=24, allow_approx=True))).path
    gpn = save_checkpoint(folder / "gpn.pt", build_network(get_preset("gpn-small").network.replace(
        input_size=40, n_classes=4, hidden=[8])).eval(), binning=BINARY)
    wav = write_wav(folder / "x.wav", 0.1 * np.sin(np.arange(1600) / 5.0), 16000)
    case = make_case(folder / "case")
    case["results"] = emulator_results(case, folder / "case" / "results.npz")
    os.symlink(ckpt, folder / "link.pt")
    return {"data": data, "ckpt": ckpt, "nir": nir_path, "gpn": gpn, "wav": wav, "case": case, "folder": folder}


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


CASES = {
    "export-nir -o the checkpoint": (lambda f: ["export-nir", f["ckpt"], "-o", f["ckpt"]], "ckpt"),
    "export-nir -o a link to the checkpoint": (lambda f: ["export-nir", f["ckpt"], "-o", f["folder"] / "link.pt"],
                                               "ckpt"),
    "export-nir --report the checkpoint": (lambda f: ["export-nir", f["ckpt"], "--report", f["ckpt"]], "ckpt"),
    "export-nir --quantized -o the calibration data": (
        lambda f: ["export-nir", f["ckpt"], "--quantized", "--data", f["data"], "-o", f["data"] / "train.h5"],
        "train"),
    "quantize --report the checkpoint": (lambda f: ["quantize", f["ckpt"], "--data", f["data"], "--report",
                                                    f["ckpt"]], "ckpt"),
    "lava-run --out the data": (lambda f: ["lava-run", f["nir"], "--data", f["data"] / "test.h5", "--out",
                                           f["data"] / "test.h5"], "test"),
    "lava-run --out the model": (lambda f: ["lava-run", f["nir"], "--data", f["data"], "--out", f["nir"]], "nir"),
    "train --data DIR --out DIR/train.h5": (
        lambda f: ["train", "--preset", "lif-shd", "--data", f["data"], "--out", f["data"] / "train.h5"], "train"),
    "train --out ./train.h5 seen from the data folder": (
        lambda f: ["train", "--preset", "lif-shd", "--data", ".", "--out", "./train.h5"], "train"),
    "fold -o the checkpoint": (lambda f: ["fold", f["gpn"], "--data", f["data"], "-o", f["gpn"]], "gpn"),
    "fold --plot the training data": (lambda f: ["fold", f["gpn"], "--data", f["data"], "-o",
                                                 f["folder"] / "folded.pt", "--plot", f["data"] / "train.h5"],
                                      "train"),
    "map --json the model": (lambda f: ["map", f["nir"], "--json", f["nir"]], "nir"),
    "data encode-audio -o the wav": (lambda f: ["data", "encode-audio", f["wav"], "-o", f["wav"]], "wav"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(files, name, capsys, monkeypatch):
    argv, which = CASES[name]
    path = {"train": files["data"] / "train.h5", "test": files["data"] / "test.h5"}.get(which) or files[which]
    before = _digest(path)
    monkeypatch.chdir(files["data"])
    code = main([str(a) for a in argv(files)])
    err = capsys.readouterr().err
    assert code == 2
    assert "is the input" in err and str(Path(path).name) in err and "remedy:" in err
    assert _digest(path) == before
    assert not (files["folder"] / "folded.pt").exists()


def test_compare_refuses_a_report_folder_that_is_a_file(files, capsys):
    case = files["case"]
    before = _digest(case["results"])
    code = main(["compare", str(case["ckpt"]), "--lava-results", str(case["results"]), "-o", str(case["results"]),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "exists and is a file" in err and "Traceback" not in err
    assert _digest(case["results"]) == before


def test_an_output_that_is_an_existing_folder_is_refused_before_anything_is_written(files, capsys, tmp_path):
    out = tmp_path / "out.nir"
    code = main(["export-nir", str(files["ckpt"]), "-o", str(out), "--quantized", "--data", str(files["data"]),
                 "--calib-samples", "8", "--allow-approx", "--report", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is a folder" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
