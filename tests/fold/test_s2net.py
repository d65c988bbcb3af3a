"""The s2net fold: W W^T reset and lateral inhibition -> a LIF layer's recurrent weight."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.models.neurons.s2net import EPS
from spikedeploy.fold import fold_network
from spikedeploy.fold.s2net import VTH_MIN, fold_s2net, fold_s2net_layer, spike_voltages


def _net(reset, lateral=True, recurrent=False, seed=0):
    torch.manual_seed(seed)
    cfg = NetworkConfig(input_size=30, hidden=(24, 16), n_classes=5, neuron="s2net", lateral=lateral,
                        recurrent=recurrent, s2net_reset=reset, readout="li", b_init=0.3, beta_init=0.6)
    net = build_network(cfg).double().eval()
    with torch.no_grad():
        for layer in net.layers:
            layer.synapse.weight.mul_(3)
            layer.neuron.b.uniform_(0.1, 0.5)
    return net


def _frames(seed=1, n=8, t=40):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, t, 30, generator=g) < 0.3).double()


def test_layer_algebra_on_a_hand_example():
    w = np.array([[1.0, 0.0], [1.0, 1.0]])           # ||w||^2 = 1, 2 ; <w0, w1> = 1
    beta, b = 0.75, np.array([0.5, 0.0])
    d = w @ w.T
    w_rec = np.array([[0.0, 2.0], [4.0, 8.0]])
    fl = fold_s2net_layer(w, beta, b, d, w_rec, reset="zero")
    s = 1.0 / (np.array([1.0, 2.0]) + EPS)
    th = np.array([0.5, VTH_MIN])                                # b = 0 -> the smallest threshold
    np.testing.assert_allclose(fl["weight"], 0.25 * (s / th)[:, None] * w)
    # off-diagonal: -beta D_ij + (1 - beta) V_ij ; diagonal: (1 - beta) V_ii only (reset to zero);
    # every row divided by its threshold, so that all thresholds are 1 (one Lava process)
    expected = (s / th)[:, None] * np.array([[0.0, -0.75 + 0.5], [-0.75 + 1.0, 2.0]])
    np.testing.assert_allclose(fl["rec_weight"], expected)
    np.testing.assert_array_equal(fl["dv"], [0.25, 0.25])
    np.testing.assert_array_equal(fl["vth"], [1.0, 1.0])
    np.testing.assert_array_equal(fl["threshold"], th)
    assert fl["vth_clamped"] == 1 and fl["dv_clamped"] == 0
    # subtractive reset: the expected remainder beta (m - r) on the diagonal, r = ||w||^2 s
    sub = fold_s2net_layer(w, beta, b, d, None, reset="subtract", spike_v=np.array([0.9, np.nan]))
    r = np.array([1.0, 2.0]) * s
    np.testing.assert_allclose(np.diagonal(sub["rec_weight"]), beta * (np.array([0.9, 0.0]) - r) / th)
    np.testing.assert_allclose(sub["rec_weight"][0, 1], -beta * s[0] / th[0])
    # without lateral connections the self-reset is b r: at threshold it is exactly the reset to zero
    nolat = fold_s2net_layer(w, beta, b, None, None, reset="subtract")
    assert nolat["rec_weight"] is None
    with pytest.raises(ConfigError, match="s2net_reset"):
        fold_s2net_layer(w, beta, b, d, None, reset="halve")


@pytest.mark.parametrize("lateral,recurrent", [(True, False), (False, False), (True, True)])
def test_reset_to_zero_folds_exactly(lateral, recurrent):
    net = _net("zero", lateral, recurrent)
    x = _frames()
    student, report = fold_s2net(net)
    assert report["exact"] and student.config.neuron == "lif"
    logits, spikes = net(x, return_spikes=True)
    logits2, spikes2 = student(x, return_spikes=True)
    assert all(s.sum() > 10 for s in spikes[:1])                # the comparison is not empty
    for a, b in zip(spikes, spikes2):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(logits, logits2, rtol=1e-12, atol=1e-12)
    assert [len(rep["decay"]["profiles"]) for rep in report["layers"]] == [1, 1]   # one LIF process per layer
    for layer in student.layers:
        p = layer.neuron_params()
        assert len(set(p["dv"].tolist())) == 1 and set(p["vth"].tolist()) == {1.0}


def test_subtractive_reset_is_approximated_and_calibration_helps():
    net = _net("subtract")
    x = _frames(n=16)
    _, spikes = net(x, return_spikes=True)
    plain, rep_plain = fold_s2net(net)
    calibrated, rep_cal = fold_network(net, x)
    assert not rep_plain["exact"] and rep_cal["kind"] == "s2net"
    assert "approximation" in rep_cal["layers"][0]["self_reset"]
    mism = []
    for student in (plain, calibrated):
        _, s2 = student(x, return_spikes=True)
        mism.append(float((s2[0] != spikes[0]).double().mean()))
    assert 0 < mism[1] < mism[0]        # not exact, and the measured remainder is closer than the threshold guess


@torch.no_grad()
def test_spike_voltages_are_the_voltages_at_spike():
    net = _net("subtract")
    x = _frames(n=4, t=12)
    stats = spike_voltages(net, [x])
    layer = net.layers[0]
    p = layer.neuron.params()
    # recompute by hand for layer 0
    v = torch.zeros(4, 24, dtype=torch.float64)
    s = torch.zeros_like(v)
    count, total = torch.zeros(24, dtype=torch.float64), torch.zeros(24, dtype=torch.float64)
    drive = layer.synapse(x)
    for t in range(12):
        v = (v - s @ p.d) * p.beta + drive[:, t] * (1 - p.beta)
        s = ((v / (p.norm + EPS) - p.b) > 0).double()
        count += s.sum(0)
        total += (v / (p.norm + EPS) * s).sum(0)
    np.testing.assert_array_equal(stats[0]["count"], count.numpy())
    fired = count.numpy() > 0
    assert fired.any()
    np.testing.assert_allclose(stats[0]["mean"][fired], (total / count).numpy()[fired], rtol=1e-12)
    assert np.all(np.isnan(stats[0]["mean"][~fired]))


def test_refuses_other_networks():
    lif = build_network(NetworkConfig(input_size=4, hidden=(3,), n_classes=2, neuron="lif"))
    with pytest.raises(ConfigError, match="s2net"):
        fold_s2net(lif)
    with pytest.raises(ConfigError, match="needs no fold"):
        fold_network(lif, torch.zeros(1, 2, 4))
