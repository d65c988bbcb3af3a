"""``spikedeploy fold``: a folded checkpoint from a GPN checkpoint, and clear errors for bad inputs."""

import pytest
import torch

from spikedeploy.cli import main
from spikedeploy.data.shd import BinningConfig
from spikedeploy.models.networks import NetworkConfig, build_network
from spikedeploy.training.checkpoint import load_checkpoint, save_checkpoint
from spikedeploy.training.config import TrainConfig
from spikedeploy.training.loop import evaluate, load_split

from ..training.toy_shd import write_toy_dataset

BINNING = BinningConfig(n_steps=10, duration=0.5, binary=True, n_channels=40)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy_fold"), n_train=60, n_test=20)


def _save(path, neuron="gpn", input_size=40):
    torch.manual_seed(0)
    cfg = NetworkConfig(input_size=input_size, hidden=(16,), n_classes=4, neuron=neuron,
                        readout="mean-linear", synapse_bias=neuron == "gpn", dropout=0.25)
    net = build_network(cfg)
    return save_checkpoint(path, net, binning=BINNING, training=TrainConfig(seed=3, val_fraction=0.2), seed=3)


@pytest.fixture(scope="module")
def gpn_ckpt(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("gpn") / "gpn.pt")


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_fold_writes_a_lif_checkpoint_with_its_report(toy_dir, gpn_ckpt, tmp_path, capsys):
    out = tmp_path / "folded.pt"
    code = main(["fold", str(gpn_ckpt), "--data", str(toy_dir), "-o", str(out), "--clusters", "3",
                 "--finetune-epochs", "1", "--batch-size", "16", "--no-progress", "--plot", str(tmp_path / "d.png")])
    assert code == 0
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "decays dv: 3 profiles" in printed and f"folded checkpoint: {out}" in printed
    assert "finetuned  accuracy" in printed
    raw = torch.load(out, weights_only=True)
    assert raw["format"] == "spikedeploy-checkpoint"
    model, meta = load_checkpoint(out)
    assert meta["model_config"].neuron == "lif" and meta["model_config"].hidden == (16,)
    assert meta["binning"] == BINNING
    rep = meta["extra"]["fold"]
    assert rep["config"]["clusters"] == 3 and rep["config"]["finetune_epochs"] == 1
    assert set(rep["accuracy"]) == {"gpn", "folded", "finetuned"}
    assert rep["layers"][0]["decay"]["sizes"] and sum(rep["layers"][0]["decay"]["sizes"]) == 16
    assert len(torch.unique(model.layers[0].neuron.neuron_params()["dv"])) <= 3
    # the accuracy recorded in the report is the reloaded model's accuracy on the test file
    net_cfg = meta["model_config"]
    _, _, test, _, _ = load_split(toy_dir, BINNING, net_cfg, 0.2, 3, progress=False)
    assert evaluate(model, test)["acc"] == pytest.approx(rep["accuracy"]["finetuned"]["test"]["acc"], abs=1e-12)
    assert meta["metrics"]["test_acc"] == rep["accuracy"]["finetuned"]["test"]["acc"]
    assert _leftovers(tmp_path) == []


def test_not_a_gpn(toy_dir, tmp_path, capsys):
    lif = _save(tmp_path / "lif.pt", neuron="lif")
    out = tmp_path / "folded.pt"
    assert main(["fold", str(lif), "--data", str(toy_dir), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'lif' network that Loihi's neuron runs as it is: there is nothing to fold" in err and "remedy" in err
    assert not out.exists()


def test_channel_count_does_not_match_the_data(toy_dir, tmp_path, capsys):
    wide = _save(tmp_path / "wide.pt", input_size=700)
    out = tmp_path / "folded.pt"
    assert main(["fold", str(wide), "--data", str(toy_dir), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "expected 700, got 40" in err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_missing_data_folder(gpn_ckpt, tmp_path, capsys):
    out = tmp_path / "folded.pt"
    assert main(["fold", str(gpn_ckpt), "--data", str(tmp_path / "nowhere"), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nowhere: data folder not found" in err and "synth-digits" in err
    assert not out.exists()


def test_data_folder_without_the_files(gpn_ckpt, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["fold", str(gpn_ckpt), "--data", str(tmp_path / "empty"), "-o", str(tmp_path / "f.pt"),
                 "--no-progress"]) == 2
    assert "the train file is missing" in capsys.readouterr().err


def test_output_in_a_missing_folder(toy_dir, gpn_ckpt, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "folded.pt"
    assert main(["fold", str(gpn_ckpt), "--data", str(toy_dir), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "mkdir -p" in err
    assert not (tmp_path / "no").exists()
    ok = tmp_path / "folded.pt"
    assert main(["fold", str(gpn_ckpt), "--data", str(toy_dir), "-o", str(ok), "--plot", str(out.with_suffix(".png")),
                 "--no-progress"]) == 2           # a bad plot path is refused before any work
    assert "does not exist" in capsys.readouterr().err and not ok.exists()


def test_missing_checkpoint_and_bad_options(toy_dir, gpn_ckpt, tmp_path, capsys):
    assert main(["fold", str(tmp_path / "none.pt"), "--data", str(toy_dir), "-o", str(tmp_path / "f.pt")]) == 2
    assert "none.pt: file not found" in capsys.readouterr().err
    assert main(["fold", str(gpn_ckpt), "--data", str(toy_dir), "-o", str(tmp_path / "f.pt"), "-k", "0"]) == 2
    assert "fold.clusters" in capsys.readouterr().err
    assert main(["fold", str(gpn_ckpt), "--data", str(toy_dir), "-o", str(gpn_ckpt)]) == 2
    assert "is the input checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "f.pt").exists()
