"""``spikedeploy export-nir`` / ``quantize``: round trips through the NIR file and clear refusals."""

import importlib.util
import json

import numpy as np
import pytest
import torch

from spikedeploy.cli import export_nir_main, main
from spikedeploy.data.shd import BinningConfig
from spikedeploy.models import build_network, get_preset
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.nir_io import load_nir, read_config, read_loihi_network, read_nir
from spikedeploy.quant.emulator import emulate
from spikedeploy.data.sampling import calibration_set, stratified_indices
from spikedeploy.stages.export import ExportOptions, QuantOptions, export
from spikedeploy.training.checkpoint import save_checkpoint

from ..training.toy_shd import write_toy_dataset

BINARY = BinningConfig(n_steps=20, duration=0.5, binary=True, n_channels=40)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy_export"), n_train=60, n_test=24)


def _model(preset="cuba-shd", seed=0, **changes):
    torch.manual_seed(seed)
    cfg = get_preset(preset).network.replace(input_size=40, n_classes=4, hidden=[16], weight_gain=3.0, **changes)
    m = build_network(cfg).eval()
    with torch.no_grad():
        if hasattr(m.layers[0].neuron, "bias") and m.layers[0].neuron.bias is not None:
            m.layers[0].neuron.bias.uniform_(-0.02, 0.08)
    return m


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    return save_checkpoint(folder / "m.pt", _model(), binning=BINARY, extra={"preset": "cuba-shd"})


def _held_out(toy_dir, n=12):
    x, y, _, _ = calibration_set(toy_dir, BINARY, 40, n, seed=0, split="test")
    return x, y


def _no_files(folder, *patterns):
    return all(not list(folder.glob(p)) for p in patterns)


# ----------------------------------------------------------------------------- round trips

def test_float_graph_reimports_to_the_models_outputs(ckpt, toy_dir, tmp_path, capsys):
    out = tmp_path / "float.nir"
    assert main(["export-nir", str(ckpt), "-o", str(out)]) == 0
    assert "float only" in capsys.readouterr().out
    spec = load_nir(out)
    x, _ = _held_out(toy_dir)
    model = _model()
    with torch.no_grad():
        expected = model(x)
    got = SpecNetwork(spec)(x)
    assert float((got - expected).abs().max()) <= 1e-6      # float tolerance (equal here)
    graph = read_nir(out)
    assert read_loihi_network(graph) is None
    cfg = read_config(graph)
    assert cfg["model"]["hidden"] == [16] and cfg["binning"]["n_steps"] == 20 and cfg["preset"] == "cuba-shd"
    assert spec.dt == pytest.approx(0.5 / 20)


def test_quantised_graph_reimports_to_identical_emulator_spikes(ckpt, toy_dir, tmp_path, capsys):
    out = tmp_path / "q.nir"
    code = main(["export-nir", str(ckpt), "-o", str(out), "--quantized", "--data", str(toy_dir),
                 "--calib-samples", "24", "--report", str(tmp_path / "r.json")])
    printed = capsys.readouterr().out
    assert code == 0 and "quantisation report" in printed and "hidden0" in printed and "readout" in printed
    # The same export in memory: the integers before writing.
    before = export(ExportOptions(ckpt, None, quantized=True, data_dir=toy_dir, quant=QuantOptions(calib_samples=24)))
    graph = read_nir(out)
    after = read_loihi_network(graph)
    for a, b in zip(before.loihi.layers, after.layers):
        for k, v in a.to_dict().items():
            assert np.array_equal(np.asarray(v), np.asarray(b.to_dict()[k])), (a.name, k)
    x, _ = _held_out(toy_dir)
    r1 = emulate(before.loihi, x, record=("s", "v", "u"), on_overflow="ignore")
    r2 = emulate(after, x, record=("s", "v", "u"), on_overflow="ignore")
    for name in after.layer_names:
        assert torch.equal(r1.spikes[name], r2.spikes[name])
        assert torch.equal(r1.voltage[name], r2.voltage[name])
        assert torch.equal(r1.current[name], r2.current[name])
    assert int(r1.spikes["hidden0"].sum()) > 0
    assert after.metadata["readout"] == "max" and after.metadata["scales"]["hidden0"]["weight_exp"] == \
        before.loihi.layer("hidden0").weight_exp
    cfg = read_config(graph)
    assert cfg["calibration"]["n_samples"] == 24 and cfg["quantization"]["config"]["headroom"] == 2.0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [l["name"] for l in report["layers"]] == ["hidden0", "readout"]
    assert report["layers"][0]["spike_agreement"] == before.report.layers[0].spike_agreement


def test_default_output_path_and_console_script(ckpt, tmp_path, capsys):
    import shutil

    local = tmp_path / "model.pt"
    shutil.copy(ckpt, local)
    assert export_nir_main([str(local)]) == 0
    assert (tmp_path / "model.nir").is_file()


def test_quantize_command_prints_the_report(ckpt, toy_dir, tmp_path, capsys):
    assert main(["quantize", str(ckpt), "--data", str(toy_dir), "--calib-samples", "16"]) == 0
    out = capsys.readouterr().out
    assert "LoihiNetwork(loihi2)" in out and "spike agree" in out
    report = tmp_path / "mse.json"
    assert main(["quantize", str(ckpt), "--data", str(toy_dir), "--calib-samples", "16", "--weight-range", "mse",
                 "--report", str(report)]) == 0
    assert json.loads(report.read_text())["config"]["weight_range"] == "mse"


def test_calibration_samples_are_stratified():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    idx = stratified_indices(labels, 8, seed=1)
    assert np.bincount(labels[idx], minlength=4).tolist() == [2, 2, 2, 2]
    assert len(set(stratified_indices(labels, 100, seed=2).tolist())) == 100


# ----------------------------------------------------------------------------- refusals

def test_spike_counts_are_refused_unless_allowed(toy_dir, tmp_path, capsys):
    counts = save_checkpoint(tmp_path / "c.pt", _model(), binning=BINARY.replace(binary=False))
    out = tmp_path / "c.nir"
    assert main(["export-nir", str(counts), "-o", str(out), "--quantized", "--data", str(toy_dir),
                 "--calib-samples", "24"]) == 2
    err = capsys.readouterr().err
    assert "binary" in err and "--allow-approx" in err
    assert _no_files(tmp_path, "c.nir", ".c.nir*")
    with pytest.warns(UserWarning):
        assert main(["export-nir", str(counts), "-o", str(out), "--quantized", "--data", str(toy_dir),
                     "--calib-samples", "24", "--allow-approx"]) == 0
    assert out.is_file() and "approximation:" in capsys.readouterr().out


def test_gpn_is_refused_with_the_fold_hint(tmp_path, capsys):
    torch.manual_seed(0)
    gpn = build_network(get_preset("gpn-small").network.replace(input_size=40, hidden=[8], n_classes=4))
    path = save_checkpoint(tmp_path / "gpn.pt", gpn)
    assert main(["export-nir", str(path), "-o", str(tmp_path / "g.nir")]) == 2
    assert "spikedeploy fold" in capsys.readouterr().err
    assert _no_files(tmp_path, "*.nir", ".g.nir*")


def test_a_folded_gpn_checkpoint_exports_with_integers(toy_dir, tmp_path, capsys):
    from spikedeploy.fold import FoldConfig, fold_gpn

    torch.manual_seed(0)
    gpn = build_network(get_preset("gpn-small").network.replace(input_size=40, hidden=[16], n_classes=4,
                                                                weight_gain=8.0)).eval()
    x, _ = _held_out(toy_dir, 16)
    folded, _ = fold_gpn(gpn, x, FoldConfig(method="mean", clusters=2, batch_size=16))
    path = save_checkpoint(tmp_path / "folded.pt", folded, binning=BINARY)
    out = tmp_path / "folded.nir"
    assert main(["export-nir", str(path), "-o", str(out), "--quantized", "--data", str(toy_dir),
                 "--calib-samples", "16"]) == 0
    net = read_loihi_network(read_nir(out))
    hidden = net.layer("hidden0")
    assert len(hidden.decay_groups()) <= 2 and set(hidden.du.tolist()) == {4095}   # LIF: du = 1
    assert net.readout.dv.tolist() == [0] * 4 and net.metadata["readout"] == "mean"  # the mean readout
    with torch.no_grad():
        expected = folded(x)
    assert float((SpecNetwork(load_nir(out))(x) - expected).abs().max()) < 1e-5


def test_a_pickle_that_would_run_code_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": "spikedeploy-checkpoint", "format_version": 1, "model_config": {},
                "state_dict": {}, "payload": Evil()}, path)
    assert main(["export-nir", str(path), "-o", str(tmp_path / "e.nir")]) == 2
    err = capsys.readouterr().err
    assert "would run code" in err
    assert not marker.exists() and _no_files(tmp_path, "*.nir")


@pytest.mark.parametrize("kind", ["text", "empty", "state_dict", "no_config", "unknown_config"])
def test_files_that_are_not_usable_checkpoints_exit_2(kind, tmp_path, capsys):
    path = tmp_path / "bad.pt"
    if kind == "text":
        path.write_text("hello, not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "state_dict":
        torch.save(_model().state_dict(), path)
    elif kind == "no_config":
        torch.save({"format": "spikedeploy-checkpoint", "format_version": 1, "state_dict": {}}, path)
    else:
        torch.save({"format": "spikedeploy-checkpoint", "format_version": 1, "state_dict": {},
                    "model_config": {"neuron": "lif", "wings": 2}}, path)
    assert main(["export-nir", str(path), "-o", str(tmp_path / "bad.nir")]) == 2
    err = capsys.readouterr().err
    assert "spikedeploy: error:" in err and str(path) in err
    assert _no_files(tmp_path, "*.nir", ".bad.nir*")


def test_nan_weights_and_missing_folders_exit_2(tmp_path, capsys, toy_dir):
    m = _model()
    with torch.no_grad():
        m.layers[0].synapse.weight[1, 2] = float("nan")
    nan = save_checkpoint(tmp_path / "nan.pt", m)
    assert main(["export-nir", str(nan), "-o", str(tmp_path / "n.nir")]) == 2
    assert "NaN or inf" in capsys.readouterr().err
    good = save_checkpoint(tmp_path / "good.pt", _model(), binning=BINARY)
    assert main(["export-nir", str(good), "-o", str(tmp_path / "nowhere" / "g.nir")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export-nir", str(good), "-o", str(tmp_path / "g.nir"), "--quantized",
                 "--data", str(tmp_path / "no-data")]) == 2
    assert "synth-digits" in capsys.readouterr().err
    assert main(["export-nir", str(tmp_path / "missing.pt")]) == 2
    assert _no_files(tmp_path, "*.nir", ".*.nir*")


def test_export_for_another_tool_says_what_its_form_changes(tmp_path, capsys):
    lif = save_checkpoint(tmp_path / "lif.pt", _model("lif-ff-shd"))
    out = tmp_path / "lif_norse.nir"
    assert main(["export-nir", str(lif), "--for", "norse", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "note (norse): the input gain is in the synapse" in text and "W s_t + b" in text and out.exists()
    assert main(["export-nir", str(lif), "--for", "norse", "--quantized", "-o", str(tmp_path / "q.nir")]) == 2
    assert "no Loihi integers" in capsys.readouterr().err


def test_export_for_rockpool_or_sinabs_refuses_naming_the_layer_and_for_lava_writes_the_standard_form(tmp_path,
                                                                                                      capsys):
    from spikedeploy.cli import build_parser
    from spikedeploy.nir_io.profiles import PROFILES

    choices = next(a.choices for a in build_parser()._subparsers._group_actions[0].choices["export-nir"]._actions
                   if a.dest == "consumer")
    assert tuple(choices) == tuple(PROFILES)
    lif = save_checkpoint(tmp_path / "lif.pt", _model("lif-ff-shd"), binning=BINARY)
    for consumer in ("rockpool", "sinabs"):
        assert main(["export-nir", str(lif), "--for", consumer, "-o", str(tmp_path / f"{consumer}.nir")]) == 2
        err = capsys.readouterr().err
        assert "node 'hidden0'" in err and "floor(v / threshold)" in err and "Traceback" not in err
        assert not (tmp_path / f"{consumer}.nir").exists()
    assert main(["export-nir", str(lif), "--for", "lava", "-o", str(tmp_path / "lava.nir")]) == 0
    assert "note (lava): Lava (lava-nc 0.10) has no NIR importer" in capsys.readouterr().out
    assert main(["export-nir", str(lif), "-o", str(tmp_path / "std.nir")]) == 0
    lava, std = load_nir(tmp_path / "lava.nir"), load_nir(tmp_path / "std.nir")   # our reader refuses profiles
    assert read_config(read_nir(tmp_path / "lava.nir")) == read_config(read_nir(tmp_path / "std.nir"))
    for a, b in zip(lava.layers, std.layers, strict=True):
        for field in ("weight", "du", "dv", "vth", "bias", "rec_weight"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None and y is None) or np.array_equal(x, y), (a.name, field)
    assert main(["export-nir", str(lif), "--for", "lava", "--quantized", "--data", str(write_toy_dataset(
        tmp_path / "data", n_train=20, n_test=4, channels=lava.input_size)), "-o", str(tmp_path / "lq.nir")]) == 0
    assert read_loihi_network(read_nir(tmp_path / "lq.nir")) is not None


@pytest.mark.lava
@pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")
def test_an_s2net_conv1d_network_goes_through_export_nir_and_lava_run_bit_exactly(toy_dir, tmp_path, capsys):
    """The conv network over the 40 channels (conv1d, reset to zero) exports through its dense
    form and runs in Lava spike for spike as the emulator (lava-run --verify)."""
    from spikedeploy.models.conv import ConvLayerSpec, ConvNetworkConfig, ConvSpikingNetwork

    torch.manual_seed(5)
    net = ConvSpikingNetwork(ConvNetworkConfig(1, 40, 4, (ConvLayerSpec(2, (5,), (1,)),), conv="conv1d",
                                               reset="zero")).eval()
    with torch.no_grad():
        net.layers[0].neuron.b.fill_(0.2)
    ckpt = save_checkpoint(tmp_path / "conv.pt", net, binning=BINARY)
    out = tmp_path / "conv.nir"
    assert main(["export-nir", str(ckpt), "-o", str(out), "--quantized", "--data", str(toy_dir)]) == 0
    spec = load_nir(out)
    assert [l.name for l in spec.layers] == ["conv0", "readout"] and spec.layers[0].weight.shape == (80, 40)
    assert spec.layers[0].rec_weight is not None and spec.readout == "mean"
    capsys.readouterr()
    code = main(["lava-run", str(out), "--data", str(toy_dir), "--samples", "8", "--verify", "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0 and "verify: bit-exact" in text
