"""``spikedeploy train``: flags, TOML config, precedence and clear errors."""

import importlib.util
import json

import nir
import pytest
import torch

from spikedeploy.cli import main
from spikedeploy.training.checkpoint import load_checkpoint
from spikedeploy.training.run_config import RunConfig

from ..training.toy_shd import write_toy_dataset


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy_cli"), n_train=60, n_test=20)


def _toml(path, text):
    path.write_text(text)
    return path


def test_train_from_toml_with_flag_overrides(toy_dir, tmp_path, capsys):
    cfg = _toml(tmp_path / "run.toml", f"""
preset = "lif-shd"
data = "{toy_dir}"
[model]
input_size = 40
n_classes = 4
hidden = [12]
[binning]
n_steps = 10
duration = 0.5
[training]
epochs = 3
batch_size = 16
""")
    out = tmp_path / "m.pt"
    torch.set_num_threads(1)
    code = main(["train", "--config", str(cfg), "--epochs", "1", "--seed", "5", "--out", str(out), "--no-progress",
                 "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "test accuracy:" in printed and str(out) in printed
    model, meta = load_checkpoint(out)
    assert meta["training"]["epochs"] == 1 and meta["training"]["batch_size"] == 16 and meta["seed"] == 5
    assert meta["model_config"].neuron == "lif" and meta["model_config"].hidden == (12,)
    assert meta["binning"].n_steps == 10
    assert meta["extra"]["preset"] == "lif-shd"
    assert f"{meta['metrics']['test_acc']:.4f}" in printed


def test_preset_whose_channels_do_not_match_the_data(toy_dir, tmp_path, capsys):
    code = main(["train", "--preset", "gpn-small", "--data", str(toy_dir), "--epochs", "1",
                 "--out", str(tmp_path / "m.pt"), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "expected 700, got 40" in err and "input_size" in err
    assert not (tmp_path / "m.pt").exists()
    code = main(["train", "--preset", "s2net-gsc-small", "--data", str(toy_dir), "--epochs", "1",
                 "--out", str(tmp_path / "m.pt"), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "expected 120, got 40" in err and "testing_list.txt" in err and "bands = 40" in err
    assert "Traceback" not in err and not (tmp_path / "m.pt").exists()


def test_unknown_preset_lists_the_valid_ones(capsys, tmp_path):
    assert main(["train", "--preset", "transformer", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'transformer'" in err
    for name in ("lif-shd", "cuba-shd", "gpn-shd", "gpn-ssc"):
        assert name in err


def test_bad_toml(tmp_path, capsys):
    bad = _toml(tmp_path / "bad.toml", "[modle]\nhidden = [3]\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "modle" in capsys.readouterr().err
    broken = _toml(tmp_path / "broken.toml", "preset = \n")
    assert main(["train", "--config", str(broken)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    neuron = _toml(tmp_path / "neuron.toml", "[model]\nneuron = \"adex\"\n")
    assert main(["train", "--config", str(neuron)]) == 2
    assert "cuba-lif" in capsys.readouterr().err


def test_resolve_precedence_and_hidden_size(tmp_path):
    run = RunConfig.resolve(preset="gpn-ssc", hidden_size=64, training={"epochs": 2})
    assert run.network.hidden == (64, 64, 64) and run.network.n_classes == 35
    assert run.binning.n_steps == 60 and run.training.epochs == 2 and run.training.batch_size == 1024
    cfg = _toml(tmp_path / "c.toml", "preset = \"gpn-shd\"\n[binning]\nn_steps = 40\n[training]\nlr = 0.01\n")
    run = RunConfig.resolve(config_file=cfg, binning={"n_steps": 80})
    assert run.preset == "gpn-shd" and run.binning.n_steps == 80 and run.training.lr == 0.01
    assert RunConfig.resolve().preset == "cuba-shd"


@pytest.mark.lava
@pytest.mark.parametrize("preset", ["s2net-conv-shd", "s2net-conv2d-shd"])
def test_the_s2net_conv_presets_train_export_and_run_bit_exactly_in_lava(toy_dir, tmp_path, capsys, preset):
    """train --preset s2net-conv-shd / s2net-conv2d-shd (over the toy data's 40 channels), then
    export-nir and lava-run --verify: training -> NIR -> Lava for s2net's convolutional layers
    (conv2d: its time taps as NIR Delay nodes and Lava's DelayDense)."""
    pytest.importorskip("lava")
    from spikedeploy.models.conv import ConvSpikingNetwork

    cfg = _toml(tmp_path / "conv.toml", f"""
preset = "{preset}"
data = "{toy_dir}"
[model]
bands = 40
n_classes = 4
[binning]
n_steps = 20
duration = 0.5
pool = 1
n_channels = 40
""")
    out = tmp_path / "conv.pt"
    torch.set_num_threads(1)
    assert main(["train", "--config", str(cfg), "--epochs", "2", "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    assert "test accuracy:" in capsys.readouterr().out
    model, meta = load_checkpoint(out)
    assert isinstance(model, ConvSpikingNetwork) and meta["extra"]["preset"] == preset
    nir_path = tmp_path / "conv.nir"
    assert main(["export-nir", str(out), "-o", str(nir_path), "--quantized", "--data", str(toy_dir)]) == 0
    capsys.readouterr()
    delays = {n: node.delay for n, node in nir.read(nir_path).nodes.items() if isinstance(node, nir.Delay)}
    assert sorted(delays) == ([] if preset == "s2net-conv-shd" else ["conv0.delay1", "conv1.delay2"])
    assert main(["lava-run", str(nir_path), "--data", str(toy_dir), "--samples", "8", "--verify",
                 "--no-progress"]) == 0
    assert "verify: bit-exact" in capsys.readouterr().out
    # the same network with NIR Conv1d nodes: read back as the same matrices, the same run
    conv_path = tmp_path / "conv-nodes.nir"
    assert main(["export-nir", str(out), "-o", str(conv_path), "--quantized", "--conv-nodes",
                 "--data", str(toy_dir)]) == 0
    assert isinstance(nir.read(conv_path).nodes["conv0.synapse"], nir.Conv1d)
    capsys.readouterr()
    assert main(["lava-run", str(conv_path), "--data", str(toy_dir), "--samples", "8", "--verify",
                 "--no-progress"]) == 0
    assert "verify: bit-exact" in capsys.readouterr().out
    with pytest.raises(Exception, match="convolutional layers, not hidden sizes"):
        RunConfig.resolve(preset="s2net-conv-shd", hidden_size=16)


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_train_an_s2net_gsc_preset_on_a_gsc_folder(tmp_path, capsys):
    """train --preset s2net-gsc-small --data GSC_DIR: the GSC folder's features, its validation
    list, the inputs standardised in the checkpoint; export-nir then says why these features do not deploy."""
    from spikedeploy.data.synth_digits import SynthConfig
    from spikedeploy.data.synth_gsc import build_gsc_layout
    from spikedeploy.models.conv import ConvSpikingNetwork

    gsc = build_gsc_layout(SynthConfig.default().replace(n_train=40, n_test=20), tmp_path / "gsc", workers=1,
                           progress=False)
    out = tmp_path / "gsc.pt"
    torch.set_num_threads(1)
    assert main(["train", "--preset", "s2net-gsc-small", "--data", str(gsc.out_dir), "--epochs", "1",
                 "--out", str(out), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "T = 101" in text
    model, meta = load_checkpoint(out)
    assert isinstance(model, ConvSpikingNetwork) and meta["binning"] is None
    assert meta["extra"]["data"]["n_test"] == 20 and meta["extra"]["data"]["n_val"] == gsc.counts["validation"]
    assert float(model.input_std.min()) > 0 and float(model.input_mean.abs().max()) > 0
    assert main(["export-nir", str(out), "-o", str(tmp_path / "gsc.nir")]) == 2     # log-Mel: real-valued
    assert "non-zero mean" in capsys.readouterr().err
    if importlib.util.find_spec("lava") is None:
        return
    # reset to zero: deployable with graded input (Loihi 2), from export-nir to lava-run --verify on the folder
    cfg = _toml(tmp_path / "zero.toml", 'preset = "s2net-gsc-small"\n[model]\nreset = "zero"\nb_min = 0.1\n')
    zero = tmp_path / "zero.pt"
    assert main(["train", "--config", str(cfg), "--data", str(gsc.out_dir), "--epochs", "1", "--out", str(zero),
                 "--no-progress", "--device", "cpu"]) == 0
    graded = tmp_path / "graded.nir"
    assert main(["export-nir", str(zero), "-o", str(graded), "--quantized", "--graded-input", "8",
                 "--data", str(gsc.out_dir), "--calib-samples", "16"]) == 0
    capsys.readouterr()
    results = tmp_path / "graded.npz"
    assert main(["lava-run", str(graded), "--data", str(gsc.out_dir), "--samples", "6", "--verify",
                 "--no-progress", "--out", str(results)]) == 0
    text = capsys.readouterr().out
    assert "verify: bit-exact" in text and "8-bit graded input spikes" in text
    # and compare: the float conv model on the features, the emulator and Lava on the payloads
    assert main(["compare", str(zero), "--lava-results", str(results), "-o", str(tmp_path / "report"),
                 "--no-progress", "--device", "cpu"]) == 0
    cmp = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert cmp["checks"]["lava_equals_emulator"] is True and cmp["n_samples"] == 6
    assert main(["export-nir", str(zero), "-o", str(tmp_path / "x.nir"), "--graded-input", "8",
                 "--data", str(gsc.out_dir)]) == 2
    assert "add --quantized" in capsys.readouterr().err
