"""``fold --target loihi2`` -> ``map`` -> ``lava-run --verify`` for a pr-v2 checkpoint (graded spikes
between layers), and one clear message (exit 2) for each bad input of that path."""

import importlib.util

import numpy as np
import pytest
import torch

from spikedeploy.cli import main
from spikedeploy.quant.graded_file import load_graded
from spikedeploy.quant.loihi2_emulator import graded_accuracy
from spikedeploy.training.loop import load_split

from .test_fold_cli import BINNING, _save
from ..training.toy_shd import write_toy_dataset

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy_loihi2"), n_train=60, n_test=20)


@pytest.fixture(scope="module")
def pr_ckpt(tmp_path_factory, toy_dir):
    """A pr-v2 checkpoint whose quantiser has seen data (a training-mode pass sets its range)."""
    from spikedeploy.models.networks import NetworkConfig, build_network
    from spikedeploy.training.checkpoint import save_checkpoint
    from spikedeploy.training.config import TrainConfig

    torch.manual_seed(0)
    cfg = NetworkConfig(input_size=40, hidden=(16,), n_classes=4, neuron="pr-v2", readout="li")
    net = build_network(cfg)
    train, *_ = load_split(toy_dir, BINNING, cfg, 0.2, 3, progress=False)
    with torch.no_grad():
        net.layers[0].synapse.weight.mul_(4.0)
        net.train()(train.x[:32].float())
    return save_checkpoint(tmp_path_factory.mktemp("pr") / "pr.pt", net.eval(), binning=BINNING,
                           training=TrainConfig(seed=3, val_fraction=0.2), seed=3)


@pytest.fixture(scope="module")
def graded_file(pr_ckpt, toy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("l2") / "pr-loihi2.npz"
    assert main(["fold", str(pr_ckpt), "--data", str(toy_dir), "--target", "loihi2", "-o", str(out),
                 "--no-progress"]) == 0
    return out


def test_fold_for_loihi2_writes_the_integer_network_and_its_accuracies(graded_file, toy_dir, pr_ckpt, tmp_path,
                                                                      capsys, monkeypatch):
    net, report = load_graded(graded_file)
    assert report["target"] == "loihi2" and report["graded"]
    assert set(report["accuracy"]) == {"pr-v2", "hard_gates", "loihi2"}
    assert net.metadata["binning"]["n_steps"] == BINNING.n_steps and net.hidden[0].bits == 6
    # the recorded integer accuracy is the file's network's accuracy on the test file
    _, _, test, _, _ = load_split(toy_dir, BINNING, _cfg(pr_ckpt), 0.2, 3, progress=False)
    assert graded_accuracy(net, test.x, test.y)["acc"] == report["accuracy"]["loihi2"]["test"]["acc"]
    assert int((net.hidden[0].wc != 0).sum()) > 100
    monkeypatch.chdir(tmp_path)                               # the default name of a Loihi 2 fold's file
    assert main(["fold", str(pr_ckpt), "--data", str(toy_dir), "--target", "loihi2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "target loihi2: gates computed, graded spikes (multi-bit payloads between layers)" in printed and (tmp_path / "folded-loihi2.npz").is_file()
    assert "Loihi 2 integers (emulator)  accuracy" in printed


def _cfg(path):
    from spikedeploy.training.checkpoint import load_checkpoint
    return load_checkpoint(path)[1]["model_config"]


def test_map_checks_the_payload_width_against_the_chip(graded_file, capsys):
    assert main(["map", str(graded_file)]) == 0
    out = capsys.readouterr().out
    assert "graded 6-bit payloads out (loihi2 carries up to 32 bits)" in out and "fits one chip: yes" in out
    assert main(["map", str(graded_file), "--chip", "loihi1"]) == 2
    err = capsys.readouterr().err
    assert "layer 'hidden0' needs graded_spike_bits = 6, the chip allows binary spikes only" in err
    assert "Traceback" not in err


@pytest.mark.lava
@needs_lava
def test_lava_run_of_the_network_file_is_bit_exact(graded_file, toy_dir, capsys):
    net, report = load_graded(graded_file)
    assert main(["lava-run", str(graded_file), "--data", str(toy_dir), "--verify", "--replicas", "4",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "gates computed, graded spikes" in out and "graded payloads out on" in out and "bit-exact" in out
    acc = float(out.split("accuracy (Lava fixed_pt): ")[1].split(" %")[0])
    assert acc == pytest.approx(100 * report["accuracy"]["loihi2"]["test"]["acc"], abs=1e-9)


def test_bad_inputs_of_the_loihi2_path(graded_file, pr_ckpt, toy_dir, tmp_path, capsys):
    s2net = _save(tmp_path / "s2net.pt", neuron="s2net")
    cases = [
        (["fold", str(pr_ckpt), "--data", str(toy_dir), "--target", "loihi2", "-o", str(tmp_path / "x.pt")],
         "written as .npz", 2),
        (["fold", str(graded_file), "--data", str(toy_dir), "--target", "loihi1", "-o", str(tmp_path / "y.pt")],
         "only runs graded and has no Loihi 1 form", 2),
        (["fold", str(pr_ckpt), "--data", str(toy_dir), "--target", "loihi2", "-o", str(tmp_path / "z.npz"),
          "--plot", str(tmp_path / "p.png")], "--plot: draws a Loihi 1 fold's decay profiles", 2),
        (["fold", str(pr_ckpt), "--data", str(toy_dir), "--target", "loihi2", "-o", str(tmp_path / "z.npz"),
          "--finetune-epochs", "2"], "a Loihi 2 fold keeps the source's own weights", 2),
        (["lava-run", str(graded_file), "--data", str(toy_dir), "--float"], "--float", 2),
        (["lava-run", str(graded_file), "--data", str(toy_dir), "--out", str(tmp_path / "r.npz")], "--out", 2),
    ]
    for argv, message, status in cases:
        assert main(argv) == status, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert not any((tmp_path / f).exists() for f in ("x.pt", "r.npz", "z.npz", "p.png"))
    # a network that needs no graded spikes: said, and folded as for loihi1
    assert main(["fold", str(s2net), "--data", str(toy_dir), "--target", "loihi2", "-o", str(tmp_path / "g.pt"),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "a s2net network needs no graded spikes between its layers: folded as for loihi1" in out
    assert "target loihi2: binary spikes" in out


@pytest.mark.lava
@needs_lava
def test_a_hardware_friendly_gpn_goes_to_loihi2_and_runs_bit_exact(toy_dir, tmp_path, capsys):
    from spikedeploy.models.networks import NetworkConfig, build_network
    from spikedeploy.training.checkpoint import save_checkpoint
    from spikedeploy.training.config import TrainConfig

    torch.manual_seed(0)
    cfg = NetworkConfig(input_size=40, hidden=(16,), n_classes=4, neuron="gpn", readout="mean-linear",
                        synapse_bias=True, gpn_gates="hard")
    net = build_network(cfg)
    with torch.no_grad():
        net.layers[0].synapse.weight.mul_(4.0)
    ckpt = save_checkpoint(tmp_path / "gpn-hw.pt", net.eval(), binning=BINNING,
                           training=TrainConfig(seed=3, val_fraction=0.2), seed=3)
    out = tmp_path / "gpn-l2.npz"
    assert main(["fold", str(ckpt), "--data", str(toy_dir), "--target", "loihi2", "-o", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "binary spikes out, the state broadcast as graded payloads" in printed and "hard gates trained" in printed
    graded, report = load_graded(out)
    assert graded.hidden[0].kind == "gpn" and set(report["accuracy"]) == {"gpn", "hard_gates", "loihi2"}
    assert report["accuracy"]["hard_gates"]["test"]["acc"] == report["accuracy"]["gpn"]["test"]["acc"]
    assert main(["map", str(out)]) == 0
    assert "graded 12-bit broadcast of its state" in capsys.readouterr().out
    assert main(["lava-run", str(out), "--data", str(toy_dir), "--verify", "--replicas", "5", "--no-progress"]) == 0
    ran = capsys.readouterr().out
    assert "spikes out on" in ran and "bit-exact" in ran
    acc = float(ran.split("accuracy (Lava fixed_pt): ")[1].split(" %")[0])
    assert acc == pytest.approx(100 * report["accuracy"]["loihi2"]["test"]["acc"], abs=1e-9)
