"""``spikedeploy convert`` and ``--from`` end to end: a state dict saved as the GPN authors' code
saves it goes through convert, fold, export-nir and lava-run (real Lava)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from spikedeploy.cli import main
from spikedeploy.cli.convert import SOURCES
from spikedeploy.foreign import READERS
from spikedeploy.training.checkpoint import load_checkpoint

from ..foreign.hr_reference import seeded_gpn
from ..training.toy_shd import write_toy_dataset

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("convert")
    data = write_toy_dataset(folder / "data", n_train=48, n_test=16, channels=40)
    src = seeded_gpn(width=24)
    torch.save(src.state_dict(), folder / "SHD_GPN.pt")              # as hr-GPN-SNN's src/SHD.py saves it
    torch.save(src, folder / "whole.pt")
    return {"folder": folder, "data": data, "src": folder / "SHD_GPN.pt", "whole": folder / "whole.pt"}


def test_the_cli_names_every_reader():
    assert SOURCES == tuple(READERS)


def test_convert_writes_a_checkpoint_that_records_its_source(files, capsys):
    out = files["folder"] / "gpn.pt"
    assert main(["convert", str(files["src"]), "--from", "hr-gpn-snn", "--time-steps", "20", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SNN_base_1_24 with GPN neurons" in text and "hr-gpn-snn convention" in text
    net, meta = load_checkpoint(out)
    assert net.config.neuron == "gpn" and meta["binning"].convention == "hr-gpn-snn"
    rec = meta["extra"]["converted"]
    assert rec["reader"] == "hr-gpn-snn" and rec["source"] == "SHD_GPN.pt" and len(rec["source_sha256"]) == 64


def test_a_foreign_file_without_from_is_answered_with_the_from_to_use(files, capsys):
    out = files["folder"] / "x.nir"
    assert main(["export-nir", str(files["src"]), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "it looks like SNN_base_1_24 with GPN neurons: use --from hr-gpn-snn" in err and "Traceback" not in err
    assert not out.exists()


def test_bad_foreign_files_get_one_line_and_exit_2(files, capsys, tmp_path):
    out = tmp_path / "o.pt"
    assert main(["convert", str(files["whole"]), "--from", "hr-gpn-snn", "--time-steps", "20", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "SNNBase" in err and "torch.save(model)" in err and "torch.save(model.state_dict(), path)" in err
    assert main(["convert", str(files["src"]), "--from", "hr-gpn-snn", "-o", str(out)]) == 2
    assert "--time-steps" in capsys.readouterr().err
    assert main(["convert", str(files["src"]), "--from", "s2net", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a s2net layout" in err and "it matches --from hr-gpn-snn" in err
    assert not out.exists()


@needs_lava
def test_from_goes_through_fold_export_and_lava(files, capsys):
    folder = files["folder"]
    folded, nir_file, results = folder / "folded.pt", folder / "folded.nir", folder / "results.npz"
    assert main(["fold", str(files["src"]), "--from", "hr-gpn-snn", "--time-steps", "20", "--data",
                 str(files["data"]), "-o", str(folded), "--calib-samples", "32", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["export-nir", str(folded), "--quantized", "--allow-approx", "--data", str(files["data"]),
                 "--calib-samples", "32", "-o", str(nir_file)]) == 0
    capsys.readouterr()
    assert main(["lava-run", str(nir_file), "--data", str(files["data"]), "--samples", "6", "--verify",
                 "--out", str(results), "--no-progress"]) == 0
    assert "verify: bit-exact" in capsys.readouterr().out
