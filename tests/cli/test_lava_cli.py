"""``spikedeploy lava-run`` and ``spikedeploy map`` end to end (real Lava, no mocks of it).

A hand-built NIR graph (nir's node classes, continuous parameters, no metadata) runs with --dt and
--calibrate; a 2-layer recurrent quantised export runs with --verify and its results file round-trips;
a corrupted comparison makes --verify fail naming the layer, neuron, sample and step; bad inputs exit 2.
Each Lava run is a few seconds: samples, steps and widths are small.
"""

import importlib.util
import json
import sys

import h5py
import nir
import numpy as np
import pytest
import torch

from spikedeploy.cli import main
from spikedeploy.cli.lava import EXIT_VERIFICATION_FAILED
from spikedeploy.data.shd import BinningConfig, load_spikes
from spikedeploy.data.shd_format import write_shd
from spikedeploy.lava_backend.results import file_sha256, read_results
from spikedeploy.models import build_network, get_preset
from spikedeploy.nir_io import read_loihi_network, read_nir
from spikedeploy.stages.export import ExportOptions, QuantOptions, export
from spikedeploy.training.checkpoint import save_checkpoint

from ..training.toy_shd import write_toy_dataset

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")
BINARY = BinningConfig(n_steps=20, duration=0.5, binary=True, n_channels=40)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy_lava"), n_train=60, n_test=24)


def hand_graph(n_in=40, seed=0):
    """Input -> Affine -> CubaLIF (recurrent, two decay groups) -> Affine -> LI -> Output."""
    rng = np.random.default_rng(seed)
    n_h, n_o = 8, 4
    nodes = {"in": nir.Input(input_type=np.array([n_in])),
             "fc1": nir.Affine(weight=rng.normal(0.3, 0.6, (n_h, n_in)), bias=np.zeros(n_h)),
             "lif": nir.CubaLIF(tau_syn=np.full(n_h, 0.05), tau_mem=np.where(np.arange(n_h) % 2, 0.1, 0.05),
                                r=np.ones(n_h), v_leak=np.zeros(n_h), v_threshold=np.full(n_h, 1.0),
                                w_in=np.full(n_h, 3.0)),
             "rec": nir.Linear(weight=rng.normal(-0.2, 0.5, (n_h, n_h))),
             "fc2": nir.Affine(weight=rng.normal(0, 1.0, (n_o, n_h)), bias=np.zeros(n_o)),
             "li": nir.LI(tau=np.full(n_o, 0.1), r=np.ones(n_o), v_leak=np.zeros(n_o)),
             "out": nir.Output(output_type=np.array([n_o]))}
    edges = [("in", "fc1"), ("fc1", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "fc2"), ("fc2", "li"),
             ("li", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


@pytest.fixture(scope="module")
def hand_nir(tmp_path_factory):
    path = tmp_path_factory.mktemp("hand") / "hand.nir"
    nir.write(path, hand_graph())
    return path


@pytest.fixture(scope="module")
def export_nir(toy_dir, tmp_path_factory):
    """A 2-layer recurrent CUBA-LIF export (16 hidden, 4 classes) with its Loihi integers."""
    torch.manual_seed(0)
    cfg = get_preset("cuba-shd").network.replace(input_size=40, n_classes=4, hidden=[16], weight_gain=3.0)
    model = build_network(cfg).eval()
    with torch.no_grad():
        model.layers[0].neuron.bias.uniform_(-0.02, 0.08)
    folder = tmp_path_factory.mktemp("export")
    ckpt = save_checkpoint(folder / "m.pt", model, binning=BINARY, extra={"preset": "cuba-shd"})
    return export(ExportOptions(ckpt, folder / "m.nir", quantized=True, data_dir=toy_dir,
                                quant=QuantOptions(calib_samples=24))).path


def _test_samples(toy_dir, binning, indices):
    from spikedeploy.data.sampling import binary_frames

    x, y, _ = binary_frames(load_spikes(toy_dir / "test.h5"), binning, np.asarray(indices))
    return x, y


# ----------------------------------------------------------------------------- Lava runs

@pytest.mark.lava
@needs_lava
def test_foreign_graph_runs_with_dt_and_calibrate_and_equals_the_emulator(hand_nir, toy_dir, tmp_path, capsys):
    from spikedeploy.data.sampling import binary_frames, choose_samples
    from spikedeploy.lava_backend.convert import convert_graph, integer_network
    from spikedeploy.lava_backend.stream import readout_values
    from spikedeploy.quant.emulator import stream_reference

    out = tmp_path / "r.npz"
    code = main(["lava-run", str(hand_nir), "--data", str(toy_dir / "test.h5"), "--dt", "0.025",
                 "--calibrate", str(toy_dir), "--calib-samples", "32", "--time-steps", "20",
                 "--duration", "0.5", "--samples", "8", "--verify", "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "dt = 0.025 s (option)" in text
    assert f"quantised here on 32 calibration sample(s) of {toy_dir / 'train.h5'}" in text
    assert "binary True (assumed (default))" in text and "verify: bit-exact" in text
    assert "recurrent connection of 'lif'" in text
    res = read_results(out)
    assert res.meta["network_source"] == "quantized" and res.meta["verified"] is True
    assert res.meta["dt"] == 0.025 and res.meta["n_steps"] == 20
    # the same quantisation, done here independently, replayed in the emulator: identical spikes
    graph = read_nir(hand_nir)
    plan = convert_graph(graph, 0.025)
    train = load_spikes(toy_dir / "train.h5")
    cx, cy, _ = binary_frames(train, BINARY, choose_samples(train.labels, 32))
    net = integer_network(plan, graph, cx, calib_labels=cy).net
    x, y = _test_samples(toy_dir, BINARY, res.sample_indices)
    assert np.array_equal(res.labels, y)
    ref = stream_reference(net, x, res.meta["replicas"], res.meta["gap_steps"])
    spikes = ref.spikes["lif"].numpy().astype(bool)
    assert 0.02 < spikes.mean() < 0.9
    np.testing.assert_array_equal(res.spikes["lif"], spikes)
    # a quiet gap exists for this graph: each window also equals an independent run
    assert res.meta["carried_samples"] == 0 and res.meta["reference"].startswith("emulate (independent")
    from spikedeploy.quant.emulator import emulate
    np.testing.assert_array_equal(emulate(net, x).spikes["lif"].numpy().astype(bool), spikes)
    expected = readout_values(ref.voltage["li"].numpy(), None, "last", False, True)
    np.testing.assert_array_equal(res.readout, expected)
    np.testing.assert_array_equal(res.predictions, expected.argmax(axis=1))


@pytest.mark.lava
@needs_lava
def test_quantised_export_verifies_and_its_results_file_round_trips(export_nir, toy_dir, tmp_path, capsys):
    from spikedeploy.data.sampling import choose_samples
    from spikedeploy.quant.emulator import stream_reference

    out = tmp_path / "results.npz"
    code = main(["lava-run", str(export_nir), "--data", str(toy_dir), "--samples", "12", "--replicas", "3",
                 "--verify", "--out", str(out), "--save-voltage", "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "T = 20 (from graph metadata)" in text and "dt = 0.025 s (graph metadata)" in text
    assert "verify: bit-exact" in text and "accuracy:" in text and "hidden0" in text
    assert "outputs not graded: binary spikes between layers" in text
    res = read_results(out)
    test = load_spikes(toy_dir / "test.h5")
    assert res.sample_indices.tolist() == choose_samples(test.labels, 12).tolist()
    res.check_source(model_path=export_nir, data_path=toy_dir / "test.h5", sample_indices=res.sample_indices)
    assert res.meta["model_sha256"] == file_sha256(export_nir)
    assert (res.meta["config"], res.meta["replicas"], res.meta["network_source"]) == ("fixed_pt", 3, "stored")
    assert res.meta["binning"] == BINARY.to_dict() and res.layer_names == ("hidden0", "readout")
    assert set(res.spikes) == {"hidden0"} and res.spikes["hidden0"].shape == (12, 20, 16)
    assert res.readout_voltage["readout"].shape == (12, 20, 4)
    np.testing.assert_array_equal(res.predictions, res.readout.argmax(axis=1))
    # the emulator, replaying the same stream, gives the same spikes, voltages and predictions
    net = read_loihi_network(read_nir(export_nir))
    x, y = _test_samples(toy_dir, BINARY, res.sample_indices)
    ref = stream_reference(net, x, 3, res.meta["gap_steps"])
    np.testing.assert_array_equal(res.spikes["hidden0"], ref.spikes["hidden0"].numpy().astype(bool))
    np.testing.assert_array_equal(res.readout_voltage["readout"], ref.voltage["readout"].numpy())
    np.testing.assert_array_equal(res.readout, ref.voltage["readout"].numpy().max(axis=1))    # readout "max"
    assert res.accuracy == pytest.approx(float(np.mean(res.predictions == y)))


@pytest.mark.lava
@needs_lava
def test_verify_names_the_first_difference_of_a_corrupted_comparison(export_nir, toy_dir, tmp_path, capsys,
                                                                     monkeypatch):
    import spikedeploy.lava_backend.run as run_module

    real = run_module.emulate_stream

    def corrupted(net, stream, layout, **kw):
        res = real(net, stream, layout, **kw)
        s = res.spikes["hidden0"]
        s[1, 1 + 3, 5] ^= 1          # stream 1, step 3 of its first sample's window (depth 1), neuron 5
        return res

    monkeypatch.setattr(run_module, "emulate_stream", corrupted)
    out = tmp_path / "r.npz"
    code = main(["lava-run", str(export_nir), "--data", str(toy_dir / "test.h5"), "--samples", "4",
                 "--replicas", "2", "--gap", "0", "--verify", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == EXIT_VERIFICATION_FAILED == 3
    # stream 1 holds samples 2 and 3: the flipped spike is sample 2, step 3, neuron 5
    assert "first difference in layer 'hidden0': sample 2, neuron 5, step 3" in err
    assert not out.exists()


@pytest.mark.lava
@needs_lava
def test_floating_point_run_is_compared_with_the_float_model(export_nir, toy_dir, tmp_path, capsys):
    out = tmp_path / "f.npz"
    assert main(["lava-run", str(export_nir), "--data", str(toy_dir / "test.h5"), "--samples", "6", "--float",
                 "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "Lava floating_pt" in text and "the Loihi integers it stores are not used" in text
    assert "float reference (SpecNetwork, float64): prediction agreement 1.0000" in text
    res = read_results(out)
    assert res.config == "floating_pt" and res.readout.dtype == np.float64
    assert res.meta["float_reference"]["prediction_agreement"] == 1.0
    assert min(res.meta["float_reference"]["spike_agreement"].values()) == 1.0


# ----------------------------------------------------------------------------- bad input

def _err(capsys):
    return capsys.readouterr().err


def test_bad_model_files_exit_2(toy_dir, tmp_path, capsys):
    text = tmp_path / "model.nir"
    text.write_text("not a graph")
    assert main(["lava-run", str(text), "--data", str(toy_dir)]) == 2
    assert "not an HDF5 file" in _err(capsys)
    h5 = tmp_path / "other.nir"
    with h5py.File(h5, "w") as f:
        f["x"] = np.arange(3)
    assert main(["lava-run", str(h5), "--data", str(toy_dir)]) == 2
    assert "nir.read cannot read it" in _err(capsys)
    assert main(["lava-run", str(tmp_path / "missing.nir"), "--data", str(toy_dir)]) == 2
    assert "no such file" in _err(capsys)


def test_data_that_does_not_fit_exits_2(hand_nir, tmp_path, capsys):
    wide = write_toy_dataset(tmp_path / "wide", n_train=8, n_test=8, channels=80)
    assert main(["lava-run", str(hand_nir), "--data", str(wide / "test.h5"), "--dt", "0.025"]) == 2
    err = _err(capsys)
    assert "80 channels, more than the graph's 40 inputs" in err and "--pool 2" in err
    many = write_toy_dataset(tmp_path / "many", n_train=8, n_test=8, n_classes=8, channels=40)
    assert main(["lava-run", str(hand_nir), "--data", str(many / "test.h5"), "--dt", "0.025"]) == 2
    assert "classes" in _err(capsys)
    empty = tmp_path / "empty.h5"
    write_shd(empty, [], [], [], [])
    assert main(["lava-run", str(hand_nir), "--data", str(empty), "--dt", "0.025"]) == 2
    assert "holds no samples" in _err(capsys)
    (tmp_path / "folder").mkdir()
    assert main(["lava-run", str(hand_nir), "--data", str(tmp_path / "folder")]) == 2
    assert "without test.h5" in _err(capsys)


def test_float_with_verify_and_missing_lava_exit_2(hand_nir, toy_dir, monkeypatch, capsys):
    assert main(["lava-run", str(hand_nir), "--data", str(toy_dir), "--float", "--verify"]) == 2
    assert "bit-exactness is defined for fixed_pt" in _err(capsys)
    monkeypatch.setitem(sys.modules, "lava.magma.core.run_configs", None)     # Lava's import now fails
    assert main(["lava-run", str(hand_nir), "--data", str(toy_dir), "--dt", "0.025", "--samples", "2"]) == 2
    err = _err(capsys)
    assert "lava-nc" in err and "scripts/sd setup" in err


# ----------------------------------------------------------------------------- map

def test_map_reports_cores_and_refuses_a_layer_over_the_fan_in(export_nir, hand_nir, tmp_path, capsys):
    out = tmp_path / "map.json"
    assert main(["map", str(export_nir), "--chip", "loihi1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(stored integers)" in text and "fits one chip: yes" in text
    report = json.loads(out.read_text())
    assert [l["name"] for l in report["layers"]] == ["hidden0", "readout"]
    assert report["total_cores"] == 2 and report["layers"][0]["fan_in"] == 40 + 16
    assert main(["map", str(hand_nir), "--chip", "loihi2", "--dt", "0.025"]) == 0
    text = capsys.readouterr().out
    assert "float network (8-bit weights assumed)" in text
    assert "unchecked (the chip does not publish these limits): axons_in_per_core, axons_out_per_core" in text
    big = tmp_path / "big.nir"
    nir.write(big, hand_graph(n_in=5000))
    assert main(["map", str(big), "--chip", "loihi1", "--dt", "0.025"]) == 2
    err = _err(capsys)
    assert "layer 'lif' needs axons_in_per_core = 5008, the chip allows 4096" in err
