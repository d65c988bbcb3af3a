"""The three-way comparison: float PyTorch, emulator and Lava columns, hand counts, bad inputs."""

import importlib.util

import numpy as np
import pytest
import torch

from spikedeploy.errors import (CheckpointError, ConfigError, DataFormatError, ResultsMismatchError,
                                VerificationError)
from spikedeploy.lava_backend.results import read_results
from spikedeploy.metrics.comparison import NOT_MEASURED, CompareConfig, relative_difference
from spikedeploy.nir_io import read_loihi_network, read_nir
from spikedeploy.quant.emulator import emulator_accuracy
from spikedeploy.training.checkpoint import load_checkpoint

from ..metrics.test_nvml import FakeNvml
from .compare_setup import BINNING, HIDDEN, binned, compared, emulator_results, make_case, make_model

T = BINNING.n_steps
needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None,
                                reason="lava-nc is not installed (scripts/sd setup installs it)")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    c = make_case(tmp_path_factory.mktemp("cmp_case"))
    c["results"] = emulator_results(c, c["folder"] / "results.npz", save_voltage=True)
    return c


@pytest.fixture(scope="module")
def cmp(case):
    return compared(case["ckpt"], case["results"])


def _colnnz(w):
    return (np.asarray(w) != 0).sum(axis=0).astype(np.int64)


# ----------------------------------------------------------------------------- numbers

def test_lava_and_emulator_columns_equal_a_hand_count(case, cmp):
    """SynOps, rates, sparsity and dense ops of the chip columns, counted here from the raw spike
    arrays: each input event at channel j costs one AC per non-zero weight in column j."""
    res = read_results(case["results"])
    net = read_loihi_network(read_nir(case["nir"]))
    xb, _ = binned(case["test"], res.sample_indices)
    x = xb.numpy().astype(np.int64)
    s = res.spikes["hidden0"].astype(np.int64)                        # [N, T, 16]
    hid, out = net.layer("hidden0"), net.layer("readout")
    N = x.shape[0]
    ff = int((x @ _colnnz(hid.weight)).sum())
    rec = int((s[:, :-1] @ _colnnz(hid.rec_weight)).sum())           # reads the previous step's spikes
    ro = int((s @ _colnnz(out.weight)).sum())
    layers = {l.name: l for l in cmp.layers}
    for col in ("emulator", "lava"):
        assert layers["hidden0"].synops[col] == (ff + rec) / N
        assert layers["readout"].synops[col] == ro / N
        assert layers["hidden0"].macs[col] == 0 and layers["readout"].macs[col] == 0   # binary inputs: ACs
        assert layers["hidden0"].rate[col] == s.sum() / (N * T * HIDDEN)
    assert layers["hidden0"].dense["lava"] == T * (40 * HIDDEN + HIDDEN * HIDDEN)
    assert layers["readout"].dense["lava"] == T * HIDDEN * 4
    assert layers["readout"].rate["lava"] is None
    lava = cmp.runs["lava"].counts
    assert lava.sparsity.sparsity == 1 - s.sum() / (N * T * HIDDEN)
    assert lava.inputs.spikes_per_sample == x.sum() / N
    # the emulator's counts equal Lava's in everything that spikes decide
    emu = cmp.runs["emulator"].counts
    assert (emu.spikes, emu.synops, emu.sparsity) == (lava.spikes, lava.synops, lava.sparsity)
    assert cmp.checks["lava_equals_emulator"] is True
    assert "readout voltage of readout" in cmp.checks["checked"]


def test_float_column_accuracy_and_relative_differences(case, cmp):
    res = read_results(case["results"])
    model, _ = load_checkpoint(case["ckpt"])
    xb, y = binned(case["test"], res.sample_indices)
    with torch.no_grad():
        logits, spikes = model(xb.float(), return_spikes=True)
    assert cmp.runs["float"].accuracy == float((logits.argmax(1).numpy() == y).mean())
    assert np.array_equal(cmp.runs["float"].predictions, logits.argmax(1).numpy())
    float_rate = float(spikes[0].double().mean())
    hid = {l.name: l for l in cmp.layers}["hidden0"]
    assert hid.rate["float"] == pytest.approx(float_rate, rel=1e-12)
    assert hid.rate_rel == (hid.rate["emulator"] - hid.rate["float"]) / hid.rate["float"]
    assert hid.synops_rel == (hid.synops["emulator"] - hid.synops["float"]) / hid.synops["float"]
    net = read_loihi_network(read_nir(case["nir"]))
    assert cmp.runs["emulator"].accuracy == emulator_accuracy(net, xb, y)["acc"]
    assert cmp.runs["lava"].accuracy == float((res.predictions == res.labels).mean())
    assert cmp.inputs["device"] == "cpu" and cmp.runs["float"].label == "PyTorch float (cpu)"


def test_energy_follows_the_counts(cmp):
    f = cmp.runs["float"].counts.synops
    assert cmp.energy["gpu"].total_j == pytest.approx((f.effective_acs * 0.9 + f.effective_macs * 4.6) * 1e-12,
                                                      rel=1e-12)
    assert cmp.energy["gpu_dense"].total_j == pytest.approx(f.dense_ops * 4.6e-12, rel=1e-12)
    e = cmp.runs["emulator"].counts
    l1 = cmp.energy["loihi1"]
    assert l1.synaptic_j == pytest.approx(e.synops.effective_acs * 23.6e-12, rel=1e-12)
    assert l1.spike_j == pytest.approx(e.spikes.spikes_per_sample * 1.7e-12, rel=1e-12)
    assert l1.neuron_j == pytest.approx((e.neuron_updates.active_per_sample * 81
                                         + e.neuron_updates.inactive_per_sample * 52) * 1e-12, rel=1e-12)
    assert cmp.energy["loihi2"].estimate_only and not l1.estimate_only
    assert cmp.energy_ratio("loihi1") == cmp.energy["gpu"].total_j / l1.total_j
    assert cmp.gpu_measured is None and cmp.gpu_status.startswith(NOT_MEASURED)


def test_relative_difference():
    assert relative_difference(4.0, 5.0) == 0.25
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(0.0, 2.0) == float("inf")
    assert relative_difference(None, 1.0) is None


def test_gpu_energy_measured_with_nvml(case):
    """With an energy counter (here a fake NVML advancing 500 mJ per read) the float inferences
    are measured: 0.5 J over the N inferences of one pass."""
    class Counter(FakeNvml):
        def nvmlDeviceGetTotalEnergyConsumption(self, handle):
            self.counter += 500
            return self.counter

    cmp = compared(case["ckpt"], case["results"], nvml=Counter(),
                   config=CompareConfig(gpu_min_seconds=0.0))
    m = cmp.gpu_measured
    assert cmp.gpu_status == "measured" and m.device_name == "Fake H100"
    assert (m.n_inferences, m.end_mj - m.start_mj) == (cmp.n_samples, 500)
    assert m.joules_per_inference == 0.5 / cmp.n_samples
    t = cmp.targets["gpu_measured"]
    assert (t.basis, t.kind, t.joules.expected) == ("measured", "gpu", 0.5 / cmp.n_samples)


def test_gpn_before_folding_counts_its_dense_gates(tmp_path):
    from spikedeploy.fold import FoldConfig
    from spikedeploy.stages.export import ExportOptions, QuantOptions, export
    from spikedeploy.stages.fold import FoldOptions, fold
    from spikedeploy.training.checkpoint import save_checkpoint
    from spikedeploy.training.config import TrainConfig

    from ..training.toy_shd import write_toy_dataset

    data = write_toy_dataset(tmp_path / "data", n_train=60, n_test=16)
    gpn = save_checkpoint(tmp_path / "gpn.pt", make_model("gpn-small"), binning=BINNING,
                          training=TrainConfig(epochs=1), extra={"preset": "gpn-small"})
    folded = fold(FoldOptions(gpn, tmp_path / "folded.pt", data, FoldConfig(calib_samples=40, clusters=2),
                              progress=False)).checkpoint
    export(ExportOptions(folded, tmp_path / "folded.nir", quantized=True, data_dir=data,
                         quant=QuantOptions(calib_samples=40, allow_approx=True)))
    case = {"test": data / "test.h5", "nir": tmp_path / "folded.nir"}
    results = emulator_results(case, tmp_path / "results.npz")
    cmp = compared(folded, results)          # gpn="auto": from the fold record
    g = cmp.runs["gpn"].counts.synops.per_layer
    C = HIDDEN
    assert g["hidden0.gates"].dense_ops == T * (4 * C) * (2 * C)
    # v is real-valued (every entry counted), x_t non-zero where an event arrives: MACs, not ACs
    assert g["hidden0.gates"].effective_acs == 0
    assert T * 4 * C * C <= g["hidden0.gates"].effective_macs <= T * 8 * C * C
    assert cmp.inputs["gpn"]["path"] == str(gpn)
    hid = {l.name: l for l in cmp.layers}["hidden0"]             # the per-layer table has the GPN column
    assert hid.macs["gpn"] == g["hidden0.gates"].effective_macs
    assert hid.synops["gpn"] == g["hidden0"].effective_acs + g["hidden0.gates"].effective_macs
    assert hid.dense["gpn"] == g["hidden0"].dense_ops + g["hidden0.gates"].dense_ops
    gc = cmp.runs["gpn"].counts.synops
    assert cmp.energy["gpn_gpu"].total_j == pytest.approx((gc.effective_acs * 0.9 + gc.effective_macs * 4.6)
                                                          * 1e-12, rel=1e-12)
    # the folded network has no gates: its float column is spike-driven
    assert cmp.runs["float"].counts.synops.effective_macs == 0
    assert cmp.runs["gpn"].accuracy == float((cmp.runs["gpn"].predictions == read_results(results).labels).mean())


@pytest.mark.lava
@needs_lava
def test_real_lava_run_equals_the_emulator_through_compare(case, tmp_path):
    """lava-run's library call (real Lava, fixed_pt, 4 replicas, recurrent layer) on the toy test set,
    then compare: firing rates, SynOps and predictions of Lava equal the emulator's exactly."""
    from spikedeploy.quant.emulator import emulate
    from spikedeploy.stages.lava_run import LavaRunOptions, lava_run

    summary = lava_run(LavaRunOptions(case["nir"], case["test"], replicas=4, out=tmp_path / "lava.npz",
                                      save_voltage=True))
    cmp = compared(case["ckpt"], summary.results_path)
    res = read_results(summary.results_path)
    assert res.meta["lava_version"] != "emulator-made" and res.meta["replicas"] == 4
    layers = {l.name: l for l in cmp.layers}
    assert layers["hidden0"].rate["lava"] == layers["hidden0"].rate["emulator"]
    assert layers["hidden0"].synops["lava"] == layers["hidden0"].synops["emulator"]
    assert "readout voltage of readout" in cmp.checks["checked"]
    net = read_loihi_network(read_nir(case["nir"]))
    xb, _ = binned(case["test"], res.sample_indices)
    emu = emulate(net, xb, on_overflow="ignore")
    assert np.array_equal(emu.spikes["hidden0"].numpy().astype(bool), res.spikes["hidden0"])
    assert res.firing_rates()["hidden0"] == layers["hidden0"].rate["lava"] == layers["hidden0"].rate["emulator"]
    assert np.array_equal(cmp.runs["lava"].predictions, cmp.runs["emulator"].predictions)


# ----------------------------------------------------------------------------- bad input

def test_a_flipped_lava_spike_fails_loudly(case, tmp_path):
    bad = emulator_results(case, tmp_path / "flipped.npz", flip=("hidden0", 3, 5, 7))
    with pytest.raises(VerificationError) as err:
        compared(case["ckpt"], bad)
    e = err.value
    assert (e.layer, e.sample, e.step, e.neuron) == ("hidden0", 3, 5, 7)


def test_results_of_another_model_are_refused(case, tmp_path):
    other = make_case(tmp_path / "other", seed=1, data_dir=case["data_dir"])
    results = emulator_results(other, tmp_path / "other.npz")
    with pytest.raises(ResultsMismatchError) as err:       # the NIR given is not the one Lava ran
        compared(case["ckpt"], results, nir=case["nir"])
    assert err.value.field == "model_sha256"
    with pytest.raises(CheckpointError, match="differs from the NIR file"):   # right NIR, wrong checkpoint
        compared(case["ckpt"], results)


def test_results_of_another_data_set_are_refused(case):
    with pytest.raises(ResultsMismatchError) as err:
        compared(case["ckpt"], case["results"], data=case["data_dir"] / "train.h5")
    assert err.value.field == "data_sha256"


def test_a_missing_layer_is_named(case, tmp_path):
    bad = emulator_results(case, tmp_path / "nolayer.npz", drop_layer="hidden0")
    with pytest.raises(DataFormatError, match="no spike trace for layer 'hidden0'") as err:
        compared(case["ckpt"], bad)
    assert err.value.field == "spikes__hidden0"


@pytest.mark.parametrize("chips, gpu, message", [(("loihi3",), "gpu", "unknown chip 'loihi3'"),
                                                  (("gpu",), "gpu", "not a neuromorphic chip"),
                                                  (("loihi1",), "loihi2", "neuromorphic profile")])
def test_unknown_chip_lists_the_known_ones(case, chips, gpu, message):
    with pytest.raises(ConfigError, match=message) as err:
        compared(case["ckpt"], case["results"], config=CompareConfig(chips=chips, gpu=gpu))
    assert err.value.valid is not None
    if chips == ("loihi3",):
        assert {"loihi1", "loihi2", "gpu"} <= set(err.value.valid)


def test_floating_point_lava_runs_are_refused(case, tmp_path):
    fp = emulator_results(case, tmp_path / "float.npz", config="floating_pt")
    with pytest.raises(ConfigError, match="fixed_pt"):
        compared(case["ckpt"], fp)


def test_missing_nir_file_says_how_to_pass_it(case, tmp_path):
    import shutil

    nir_copy = tmp_path / "gone.nir"
    shutil.copy(case["nir"], nir_copy)
    results = emulator_results(case, tmp_path / "r.npz", nir_path=nir_copy)
    nir_copy.unlink()
    with pytest.raises(DataFormatError, match="NIR file") as err:
        compared(case["ckpt"], results)
    assert "--nir" in str(err.value)
    cmp = compared(case["ckpt"], results, nir=case["nir"])   # same bytes: accepted
    assert cmp.inputs["nir"] == str(case["nir"])


def test_spikes_carried_across_a_reset_are_compared_with_lavas_stream(tmp_path):
    """A recurrent layer with a neuron whose bias alone crosses the threshold fires on the step
    before its first reset in Lava's stream, and its recurrent spike lands in the sample: the
    results file says so (carried_samples) and compare replays Lava's stream, not independent runs."""
    from spikedeploy.lava_backend.results import LavaResults, write_results
    from spikedeploy.quant.emulator import emulate, stream_reference
    from spikedeploy.stages.export import ExportOptions, QuantOptions, export
    from spikedeploy.training.checkpoint import save_checkpoint

    from ..training.toy_shd import write_toy_dataset
    from .compare_setup import int_readout, results_meta

    data = write_toy_dataset(tmp_path / "data", n_train=40, n_test=12)
    model = make_model()
    with torch.no_grad():
        vth = model.layers[0].neuron_params()["vth"]
        model.layers[0].neuron.bias[:3] = 2.5 * vth[:3]       # three tonic neurons
        model.layers[0].recurrent.weight[:, :3] = 0.6            # whose spikes reach the others
    ckpt = save_checkpoint(tmp_path / "m.pt", model, binning=BINNING)
    nir_path = export(ExportOptions(ckpt, tmp_path / "m.nir", quantized=True, data_dir=data,
                                    quant=QuantOptions(calib_samples=40))).path
    net = read_loihi_network(read_nir(nir_path))
    idx = np.arange(12, dtype=np.int64)
    xb, y = binned(data / "test.h5", idx)
    ref = stream_reference(net, xb.numpy(), 12, 0)             # one sample per copy, as lava-run does
    indep = emulate(net, xb, record=("s", "v"), on_overflow="ignore")
    assert not torch.equal(ref.spikes["hidden0"], indep.spikes["hidden0"])   # the carry changes spikes
    v = ref.readout.numpy()
    readout = int_readout(net, v)
    meta = {**results_meta(nir_path, data / "test.h5", idx, net, replicas=12), "carried_samples": 12}
    res = write_results(tmp_path / "r.npz", LavaResults(
        meta=meta, sample_indices=idx, labels=y, predictions=readout.argmax(1), readout=readout,
        spikes={"hidden0": ref.spikes["hidden0"].numpy().astype(bool)}, readout_voltage={}))
    cmp = compared(ckpt, res)
    assert cmp.checks["lava_equals_emulator"] is True
    assert cmp.checks["reference"].startswith("emulate_stream") and "12 sample(s)" in cmp.checks["reference"]
    assert cmp.runs["emulator"].counts.spikes == cmp.runs["lava"].counts.spikes
    # without the note the comparison with independent runs finds the difference
    meta.pop("carried_samples")
    write_results(tmp_path / "r2.npz", LavaResults(
        meta=meta, sample_indices=idx, labels=y, predictions=readout.argmax(1), readout=readout,
        spikes={"hidden0": ref.spikes["hidden0"].numpy().astype(bool)}, readout_voltage={}))
    with pytest.raises(VerificationError, match="hidden0"):
        compared(ckpt, tmp_path / "r2.npz")
