"""GPN folding: the algebra on hand examples, exact folds of constant-gate GPNs, optimal
decay clustering, the folded checkpoint round trip."""

import itertools

import numpy as np
import pytest
import torch

from spikedeploy.errors import CheckpointError, ConfigError
from spikedeploy.models.networks import NetworkConfig, build_network
from spikedeploy.models.neurons.gpn import GPNState
from spikedeploy.models.neurons.lif import CubaLIFParameters, CubaLIFState, lif_step
from spikedeploy.models.surrogate import make_surrogate
from spikedeploy.fold import (FoldConfig, GateConstants, cluster_decays, fold_gpn, fold_layer, folded_network_config,
                              gate_statistics, load_foldable_checkpoint)
from spikedeploy.fold.gpn import _gpn_layer_run
from spikedeploy.training.checkpoint import load_checkpoint, save_checkpoint

SG = make_surrogate("atan")


def _logit(p):
    return np.log(p / (1 - p))


def _gpn(hidden=(5, 4), n_in=6, n_classes=3, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    cfg = NetworkConfig(input_size=n_in, hidden=hidden, n_classes=n_classes, neuron="gpn", readout="mean-linear",
                        synapse_bias=True, dropout=0.25)
    return build_network(cfg).to(dtype).eval()


def _set_constant_gates(net, seed=1, bypass=True):
    """Zero gate weights, gate biases chosen so sigmoid/tanh give known constants."""
    rng = np.random.default_rng(seed)
    consts = []
    for layer in net.layers:
        c = layer.size
        f, i = rng.uniform(0.5, 0.95, c), rng.uniform(0.3, 1.0, c)
        b = rng.uniform(-0.3, 0.3, c) if bypass else np.zeros(c)
        th = rng.uniform(0.2, 0.8, c)
        with torch.no_grad():
            layer.neuron.gates.weight.zero_()
            layer.neuron.gates.bias.copy_(torch.tensor(np.concatenate([_logit(f), _logit(i), np.arctanh(b),
                                                                       _logit(th)])))
        consts.append(GateConstants(f, i, b, th))
    return consts


# ----------------------------------------------------------------------------- the algebra by hand

def _lif_trace(folded, inputs):
    """V (before the reset) and spikes of the folded LIF neuron(s), with the project's lif_step."""
    p = CubaLIFParameters(du=torch.ones(1, dtype=torch.float64), dv=torch.tensor(folded.dv),
                          vth=torch.tensor([folded.vth], dtype=torch.float64), bias=torch.tensor(folded.bias))
    z = torch.zeros(1, len(folded.bias), dtype=torch.float64)
    st = CubaLIFState(z, z, z)
    w = torch.tensor(folded.weight)
    vs, ss = [], []
    for x in inputs:
        pre = (1 - p.dv) * st.v + torch.tensor(x, dtype=torch.float64) @ w.T + p.bias
        s, st = lif_step(torch.tensor([x], dtype=torch.float64) @ w.T, st, p, SG)
        vs.append(float(pre[0, 0]))
        ss.append(int(s[0, 0]))
    return vs, ss


def test_row_scaling_on_a_hand_example():
    # x_t = [1 2] in_t + 0.5 ; f = 3/4, i = 1/2, b = 1/4, th = 1/2 (binary fractions: exact in float).
    gates = GateConstants(np.array([0.75]), np.array([0.5]), np.array([0.25]), np.array([0.5]))
    fl = fold_layer(np.array([[1.0, 2.0]]), np.array([0.5]), gates)
    # row scale i / th = 1; bias = (i c + f b) / th = (0.25 + 0.1875) / 0.5 = 0.875; dv = 1/4; vth = 1.
    np.testing.assert_array_equal(fl.weight, [[1.0, 2.0]])
    np.testing.assert_array_equal(fl.bias, [0.875])
    np.testing.assert_array_equal(fl.dv, [0.25])
    assert fl.vth == 1.0
    inputs = [[0, 0], [1, 0], [0, 0], [0, 0]]
    # GPN by hand from v_0 = 0:  h = .25 (no spike), v = .5 ; h = .375 + .75 = 1.125 (spike), v = .25 ;
    # h = .1875 + .25 = .4375, v = .6875 ; h = .515625 + .25 = .765625 (spike).  h / th:
    gpn_v = [0.5, 2.25, 0.875, 1.53125]
    gpn_s = [0, 1, 0, 1]
    vs, ss = _lif_trace(fl, inputs)
    # Until the first spike the LIF is ahead by f b / th = 0.375, decaying by f (0.28125 at t = 2);
    # after the reset both coincide exactly.
    assert vs == [0.875, 2.53125, 0.875, 1.53125]
    assert [a - b for a, b in zip(vs, gpn_v)] == [0.375, 0.28125, 0.0, 0.0]
    assert ss == gpn_s


def test_threshold_tie_is_the_one_place_strict_and_non_strict_differ():
    # f = i = th = 1/2, b = 0, W = [[1]]: input 1 gives h = 1/2 = th exactly.
    gates = GateConstants(np.array([0.5]), np.array([0.5]), np.array([0.0]), np.array([0.5]))
    fl = fold_layer(np.array([[1.0]]), None, gates)
    np.testing.assert_array_equal(fl.weight, [[1.0]])
    vs, ss = _lif_trace(fl, [[1.0]])
    assert vs == [1.0]          # V = h / th = 1 = vth exactly
    assert ss == [0]            # Loihi: v > vth does not fire; the GPN (h >= th) fires here
    vs, ss = _lif_trace(fl, [[1.0 + 2 ** -20]])
    assert ss == [1]            # anything above the tie fires in both


def test_fold_layer_rows_and_bias_match_the_formula():
    rng = np.random.default_rng(3)
    w, c = rng.normal(size=(4, 3)), rng.normal(size=4)
    g = GateConstants(rng.uniform(0.1, 0.9, 4), rng.uniform(0.1, 0.9, 4), rng.uniform(-0.5, 0.5, 4),
                      rng.uniform(0.1, 0.9, 4))
    fl = fold_layer(w, c, g, vth=2.0)
    np.testing.assert_allclose(fl.weight, 2.0 * (g.input / g.threshold)[:, None] * w, rtol=1e-15)
    np.testing.assert_allclose(fl.bias, 2.0 * (g.input * c + g.forget * g.bypass) / g.threshold, rtol=1e-15)
    np.testing.assert_allclose(fl.dv, 1 - g.forget, rtol=1e-15)


def test_gate_constants_are_validated():
    one = np.array([0.5])
    with pytest.raises(ConfigError, match="forget"):
        GateConstants(np.array([1.0]), one, one, one)
    with pytest.raises(ConfigError, match="threshold"):
        GateConstants(one, one, one, np.array([0.0]))
    with pytest.raises(ConfigError, match="input"):
        GateConstants(one, np.array([-0.1]), one, one)


# ----------------------------------------------------------------------------- exact folds

@pytest.mark.parametrize("method", ["mean", "lsq"])
def test_constant_gate_gpn_without_bypass_folds_with_zero_error(method):
    net = _gpn()
    consts = _set_constant_gates(net, bypass=False)
    calib = torch.rand(16, 30, 6, dtype=torch.float64) * 2
    folded, report = fold_gpn(net, calib, FoldConfig(method=method, clusters=8))
    for rep, c in zip(report["layers"], consts):
        tol = 0 if method == "mean" else 1e-9
        np.testing.assert_allclose(rep["per_neuron"]["forget"].numpy(), c.forget, rtol=tol, atol=1e-15)
        np.testing.assert_allclose(rep["per_neuron"]["input"].numpy(), c.input, rtol=tol, atol=1e-15)
        np.testing.assert_allclose(rep["per_neuron"]["threshold"].numpy(), c.threshold, rtol=1e-12)
        assert rep["decay"]["error"]["max_abs"] == 0.0  # K = 8 >= the 5 / 4 distinct decays
    x = torch.rand(40, 50, 6, dtype=torch.float64) * 2
    lg, sg = net(x, return_spikes=True)
    lf, sf = folded(x, return_spikes=True)
    for a, b in zip(sg, sf):
        assert 0.01 < float(a.mean()) < 0.95          # the neurons do fire and rest
        assert torch.equal(a, b)
    torch.testing.assert_close(lf, lg, rtol=0, atol=1e-12)


def test_constant_gate_gpn_with_bypass_equals_the_gpn_started_from_v0_equal_b():
    net = _gpn()
    consts = _set_constant_gates(net, bypass=True)
    folded, _ = fold_gpn(net, torch.rand(8, 20, 6, dtype=torch.float64), FoldConfig(method="mean"))
    x = torch.rand(30, 50, 6, dtype=torch.float64) * 2
    h_g, h_f = x, x
    for lg, lf, c in zip(net.layers, folded.layers, consts):
        b = torch.tensor(c.bypass).expand(x.shape[0], -1)
        s_g, _ = lg.neuron(lg.synapse(h_g), GPNState(b.clone(), torch.zeros_like(b)))
        s_f = lf(h_f)
        assert 0.01 < float(s_g.mean()) < 0.95
        assert torch.equal(s_g, s_f)
        h_g, h_f = s_g, s_f
    torch.testing.assert_close(folded.readout(h_f), net.readout(h_g), rtol=0, atol=1e-12)
    # From v_0 = 0 (the GPN's evaluation start) only the first-step transient differs: few spikes.
    _, sg = net(x, return_spikes=True)
    _, sf = folded(x, return_spikes=True)
    assert 0 < float((sg[0] != sf[0]).float().mean()) < 0.05


def test_the_gate_recorder_follows_the_gpn_bit_for_bit():
    net = _gpn(hidden=(7,), n_in=5, dtype=torch.float32, seed=4)
    x = (torch.rand(6, 25, 5) < 0.3).float()
    ref = net.layers[0](x)
    got = _gpn_layer_run(net.layers[0], x)
    assert torch.equal(ref, got)
    stats = gate_statistics(net, [x[:3], x[3:]])
    st = stats[0]
    assert st.steps == 6 * 25 and st.samples == 6
    assert float(st.spikes.sum()) == float(ref.sum())
    assert st.moments["forget"].count == 150
    assert st.normal[:, 2, 2].tolist() == [6.0 * 24] * 7      # t >= 2 only, one row per sample and step
    # the mean of the recorded gates equals the sigmoid of the pre-activations along the trajectory
    assert 0 < st.mean_constants().forget.min() < 1


def test_lsq_recovers_a_known_update_better_than_the_mean():
    """Gates that vary with v: the least-squares fit predicts h better (higher R^2 than the mean gates)."""
    net = _gpn(hidden=(6,), n_in=4, seed=2)
    with torch.no_grad():
        net.layers[0].neuron.gates.weight.normal_(0, 1.5)
    calib = torch.rand(32, 40, 4, dtype=torch.float64) * 3
    st = gate_statistics(net, [calib])[0]
    lsq, info = st.lsq_constants()
    mean = st.mean_constants()

    def sse(g):
        theta = torch.tensor(np.stack([g.forget, g.input, g.forget * g.bypass], 1))
        return (st.h_sq - 2 * (theta * st.rhs).sum(1) + torch.einsum("ci,cij,cj->c", theta, st.normal, theta))

    assert bool((sse(lsq) <= sse(mean) + 1e-9).all())
    assert 0 < info["mean_r2"] <= 1


def test_fold_refuses_a_network_that_is_not_a_gpn():
    lif = build_network(NetworkConfig(input_size=6, hidden=(5,), n_classes=3, neuron="lif"))
    with pytest.raises(ConfigError, match="needs a GPN"):
        fold_gpn(lif, torch.zeros(2, 3, 6))


# ----------------------------------------------------------------------------- clustering

def test_clustering_with_enough_profiles_is_exact():
    dv = np.array([0.3, 0.1, 0.3, 0.2, 0.1, 0.05])
    for k in (4, 5, 8):
        cl = cluster_decays(dv, k)
        np.testing.assert_array_equal(cl.values, dv)
        np.testing.assert_array_equal(cl.centres, [0.05, 0.1, 0.2, 0.3])
        assert cl.sizes == [1, 2, 1, 2]
        assert cl.errors() == {"max_abs": 0.0, "rms": 0.0, "sse": 0.0, "max_tau_rel": 0.0}


def test_clustering_reports_the_hand_computed_error():
    dv = np.array([0.1, 0.1, 0.2, 0.5, 0.6])
    cl = cluster_decays(dv, 2)             # {0.1, 0.1, 0.2} -> 2/15, {0.5, 0.6} -> 0.55
    np.testing.assert_allclose(cl.centres, [0.4 / 3, 0.55], rtol=1e-12)
    assert cl.labels.tolist() == [0, 0, 0, 1, 1]
    e = cl.errors()
    np.testing.assert_allclose(e["sse"], 2 * (0.1 / 3) ** 2 + (0.2 / 3) ** 2 + 2 * 0.05 ** 2, rtol=1e-9)
    np.testing.assert_allclose(e["max_abs"], 0.2 / 3, rtol=1e-9)
    np.testing.assert_allclose(e["rms"], np.sqrt(e["sse"] / 5), rtol=1e-12)
    np.testing.assert_allclose(e["max_tau_rel"], 0.2 / (0.4 / 3) - 1, rtol=1e-9)   # 0.2 -> 0.1333: tau +50 %
    cl3 = cluster_decays(dv, 3)            # {0.1, 0.1}, {0.2}, {0.5, 0.6}: sse 0.005
    np.testing.assert_allclose(cl3.centres, [0.1, 0.2, 0.55], rtol=1e-12)
    np.testing.assert_allclose(cl3.errors()["sse"], 0.005, rtol=1e-9)
    np.testing.assert_allclose(cluster_decays(dv, 1).centres, [0.3], rtol=1e-12)


def test_clustering_is_optimal_against_brute_force():
    rng = np.random.default_rng(7)
    for trial in range(5):
        x = np.sort(rng.uniform(0.01, 0.9, 9))
        for k in (2, 3, 4):
            best = np.inf
            for cuts in itertools.combinations(range(1, 9), k - 1):
                parts = np.split(x, cuts)
                best = min(best, sum(((p - p.mean()) ** 2).sum() for p in parts))
            cl = cluster_decays(rng.permutation(x), k)
            assert len(cl.centres) == k
            np.testing.assert_allclose(cl.errors()["sse"], best, rtol=1e-9, atol=1e-15)


def test_clustering_rejects_bad_input():
    with pytest.raises(ConfigError):
        cluster_decays([0.1, 0.2], 0)
    with pytest.raises(ConfigError):
        cluster_decays([], 2)
    with pytest.raises(ConfigError):
        cluster_decays([0.1, np.nan], 2)


def test_fold_clusters_the_decays_into_k_profiles():
    net = _gpn(hidden=(12,), n_in=6, seed=5)
    _set_constant_gates(net, seed=9)
    folded, report = fold_gpn(net, torch.rand(4, 10, 6, dtype=torch.float64), FoldConfig(method="mean", clusters=3))
    dv = folded.layers[0].neuron.neuron_params()["dv"].numpy()
    assert len(np.unique(np.round(dv, 6))) == 3
    d = report["layers"][0]["decay"]
    assert len(d["profiles"]) == 3 and sum(d["sizes"]) == 12
    unclustered = report["layers"][0]["per_neuron"]["dv_unclustered"].numpy()
    np.testing.assert_allclose(np.abs(dv - unclustered).max(), d["error"]["max_abs"], rtol=1e-5)
    assert d["error"]["max_abs"] > 0


# ----------------------------------------------------------------------------- checkpoints

def test_folded_checkpoint_reloads_weights_only_with_the_same_outputs(tmp_path):
    net = _gpn(dtype=torch.float32, seed=3)
    _set_constant_gates(net, seed=2)
    folded, report = fold_gpn(net, torch.rand(8, 20, 6), FoldConfig(method="lsq", clusters=2))
    path = save_checkpoint(tmp_path / "folded.pt", folded, extra={"fold": report})
    raw = torch.load(path, weights_only=True)
    assert raw["model_config"]["neuron"] == "lif" and raw["model_config"]["synapse_bias"] is False
    assert raw["extra"]["fold"]["layers"][0]["decay"]["sizes"] == report["layers"][0]["decay"]["sizes"]
    loaded, meta = load_checkpoint(path)
    assert meta["model_config"] == folded_network_config(net.config)
    x = (torch.rand(10, 30, 6) < 0.4).float()
    l1, s1 = folded(x, return_spikes=True)
    l2, s2 = loaded(x, return_spikes=True)
    assert all(torch.equal(a, b) for a, b in zip(s1, s2))
    assert torch.equal(l1, l2)
    for layer in loaded.layers:
        assert len(torch.unique(layer.neuron.neuron_params()["dv"])) <= 2
        assert torch.all(layer.neuron.neuron_params()["vth"] == 1.0)


def test_load_foldable_checkpoint_refuses_other_networks(tmp_path):
    lif = build_network(NetworkConfig(input_size=6, hidden=(5,), n_classes=3, neuron="lif"))
    p = save_checkpoint(tmp_path / "lif.pt", lif)
    with pytest.raises(CheckpointError, match="Loihi's neuron runs as it is: there is nothing to fold"):
        load_foldable_checkpoint(p)


def test_fold_config_validation():
    with pytest.raises(ConfigError, match="method"):
        FoldConfig(method="median")
    with pytest.raises(ConfigError, match="clusters"):
        FoldConfig(clusters=0)
    assert FoldConfig.from_dict(FoldConfig(clusters=3).to_dict()).clusters == 3


# ----------------------------------------------------------------------------- fine-tuning

def _toy_data(net, n=48, t=12, seed=0):
    from spikedeploy.training.loop import TensorData

    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, t, net.config.input_size, generator=g) < 0.3).to(torch.uint8)
    with torch.no_grad():
        y = net(x.float()).argmax(1)          # labels the teacher gets right
    return TensorData(x, y)


@pytest.mark.parametrize("learn", [False, True])
def test_distillation_keeps_k_decays_and_never_lowers_validation_accuracy(learn):
    from spikedeploy.fold import distill
    from spikedeploy.training.loop import evaluate

    gpn = _gpn(hidden=(10,), n_in=8, n_classes=3, dtype=torch.float32, seed=6)
    train, val = _toy_data(gpn, seed=1), _toy_data(gpn, n=24, seed=2)
    cfg = FoldConfig(method="mean", clusters=2, finetune_epochs=2, batch_size=16, finetune_decays=learn,
                     finetune_lr=1e-2)
    folded, _ = fold_gpn(gpn, train.x[:16].float(), cfg)
    dv0 = folded.layers[0].neuron.neuron_params()["dv"]
    acc0 = evaluate(folded, val)["acc"]
    out = distill(folded, gpn, train, val, cfg)
    assert [h["epoch"] for h in out["history"]] == [0, 1, 2]
    assert out["history"][0]["val_acc"] == acc0
    assert out["best_val_acc"] == max(h["val_acc"] for h in out["history"]) >= acc0
    assert evaluate(folded, val)["acc"] == out["best_val_acc"]        # the best epoch's weights are kept
    dv = folded.layers[0].neuron.neuron_params()["dv"]
    assert len(torch.unique(dv)) <= 2
    if not learn:
        assert torch.equal(dv, dv0)                                   # decays stay on their cluster values
    assert torch.all(folded.layers[0].neuron.neuron_params()["vth"] == 1.0)


def test_the_folded_network_reads_into_a_network_spec():
    to_spec = pytest.importorskip("spikedeploy.models.to_spec")
    from spikedeploy.models.spec_network import SpecNetwork

    gpn = _gpn(dtype=torch.float32, seed=8)
    _set_constant_gates(gpn, seed=4)
    folded, _ = fold_gpn(gpn, torch.rand(8, 20, 6), FoldConfig(method="mean", clusters=2))
    spec = to_spec.model_to_spec(folded)
    assert spec.readout == "mean" and [l.name for l in spec.layers] == ["hidden0", "hidden1", "readout"]
    assert len(np.unique(spec.layers[0].dv)) <= 2 and np.all(spec.layers[0].vth == 1.0)
    x = (torch.rand(10, 30, 6) < 0.4).float()
    torch.testing.assert_close(SpecNetwork(spec)(x), folded(x), rtol=1e-5, atol=1e-5)
