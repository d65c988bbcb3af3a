"""The three model families of the source papers end to end, through the CLI only:
``train`` -> ``fold`` -> ``export-nir --quantized`` -> ``lava-run --verify`` (real Lava).

GPN (Wang et al.), Ponghiran & Roy's improved recurrence (pr-v2) and s2net (Zimmer et al.,
dense, with Deneve lateral connections), each trained for one epoch on a toy SHD-format
set, must fold into a LIF / CUBA-LIF checkpoint, export to a quantised NIR graph, and run
in Lava's bit-accurate simulation with spikes equal to the emulator's (``--verify`` exits
non-zero on any difference). The unfolded checkpoints are refused by export-nir with the
fold remedy.
"""

import importlib.util

import nir
import pytest

from spikedeploy.cli import main
from spikedeploy.lava_backend.results import read_results
from spikedeploy.training.checkpoint import load_checkpoint

from .training.toy_shd import write_toy_dataset

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")

FAMILIES = {
    # preset, extra [model] lines, the neuron kind, the folded neuron kind
    "gpn": ("gpn-small", "", "gpn", "lif"),
    "pr-v2": ("pr-v2-shd", "", "pr-v2", "cuba-lif"),
    "s2net": ("s2net-shd", 's2net_reset = "zero"\n', "s2net", "lif"),           # exact fold
    "s2net-paper": ("s2net-shd", "", "s2net", "lif"),                           # the paper's subtractive reset
}


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy_families"), n_train=64, n_test=16)


def _train(toy_dir, folder, family):
    preset, extra, _, _ = FAMILIES[family]
    cfg = folder / "run.toml"
    cfg.write_text(f"""
preset = "{preset}"
data = "{toy_dir}"
[model]
input_size = 40
n_classes = 4
hidden = [12]
{extra}[binning]
n_steps = 16
duration = 0.5
binary = true
[training]
epochs = 1
batch_size = 16
""")
    out = folder / f"{family}.pt"
    assert main(["train", "--config", str(cfg), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    return out


@pytest.mark.lava
@needs_lava
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_train_fold_export_and_run_bit_exact_in_lava(family, toy_dir, tmp_path, capsys):
    _, _, kind, folded_kind = FAMILIES[family]
    trained = _train(toy_dir, tmp_path, family)
    # the unfolded network is refused by the exporter, with the remedy
    assert main(["export-nir", str(trained), "-o", str(tmp_path / "raw.nir"), "--quantized",
                 "--data", str(toy_dir)]) == 2
    err = capsys.readouterr().err
    assert f"node 'hidden0' ({kind})" in err and "spikedeploy fold" in err
    assert not (tmp_path / "raw.nir").exists()

    folded = tmp_path / "folded.pt"
    assert main(["fold", str(trained), "--data", str(toy_dir), "-o", str(folded), "--clusters", "2",
                 "--calib-samples", "32", "--batch-size", "16", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "folded     accuracy" in printed and f"{kind:10s} accuracy" in printed
    model, meta = load_checkpoint(folded)
    assert meta["model_config"].neuron == folded_kind
    assert meta["extra"]["fold"]["kind"] == kind
    # at most K = 2 decay profiles per layer: at most 2 Lava LIF processes
    for layer in model.layers:
        p = layer.neuron_params()
        assert len({(float(a), float(b)) for a, b in zip(p["du"], p["dv"])}) <= 2

    graph_path = tmp_path / "folded.nir"
    assert main(["export-nir", str(folded), "-o", str(graph_path), "--quantized", "--data", str(toy_dir),
                 "--calib-samples", "32"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    graph = nir.read(graph_path)
    assert {"input", "output"} <= set(graph.nodes)

    results = tmp_path / "r.npz"
    code = main(["lava-run", str(graph_path), "--data", str(toy_dir), "--samples", "6", "--verify",
                 "--out", str(results), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "verify: bit-exact" in text
    res = read_results(results)
    assert res.meta["verified"] is True and res.predictions.shape == (6,)
