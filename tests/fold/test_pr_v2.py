"""The pr-v2 fold: forget gates -> CUBA-LIF current decays, graded outputs -> binary spikes."""

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.models.neurons.lif import cuba_lif_step
from spikedeploy.models.neurons.pr_rnn import pr_v2_integrate, pr_v2_step
from spikedeploy.fold import FoldConfig, fold_network
from spikedeploy.fold.pr_v2 import DV_PR, fold_pr_v2, pr_statistics


def _net(constant_gate=False, seed=0):
    torch.manual_seed(seed)
    cfg = NetworkConfig(input_size=10, hidden=(6,), n_classes=3, neuron="pr-v2", readout="li", batch_norm=False)
    net = build_network(cfg).double().eval()
    pop = net.layers[0].neuron
    with torch.no_grad():
        pop.quantizer.max.fill_(2.0)           # range 2: scale 16 (1 - 1e-4), smallest level 4 / scale
        if constant_gate:
            w = net.layers[0].synapse.weight
            w[:6].zero_()                        # forget pre-activation 0: F = 0.5 at every step
            w[6:].uniform_(0.0, 0.8)             # candidate >= 0 on binary inputs: the ReLU never acts
            pop.recurrent.weight.zero_()
    return net


def _frames(n=8, t=30, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, t, 10, generator=g) < 0.4).double()


@torch.no_grad()
def test_constant_gate_folds_the_current_exactly():
    net = _net(constant_gate=True)
    x = _frames()
    student, report = fold_pr_v2(net, x, FoldConfig(clusters=8))
    rep = report["layers"][0]
    assert rep["forget"]["mean"] == pytest.approx(0.5, abs=1e-15) and rep["forget"]["within_neuron_std"] < 1e-7
    assert rep["candidate_negative_fraction"] == 0.0
    assert rep["decay"]["profiles"] == pytest.approx([0.5])
    sl = student.layers[0]
    p = sl.neuron.params()
    torch.testing.assert_close(p.du, torch.full((6,), 0.5, dtype=torch.float64))
    torch.testing.assert_close(p.dv, torch.full((6,), DV_PR, dtype=torch.float64))
    # the teacher's gated current I_t equals the student's synaptic current u_t on every step
    pop = net.layers[0].neuron
    tp = pop.params()
    drive, sdrive = net.layers[0].synapse(x), sl.synapse(x)
    st, ss = pop.initial_state(8, dtype=torch.float64), sl.neuron.initial_state(8, dtype=torch.float64)
    for t in range(x.shape[1]):
        i, _ = pr_v2_integrate(drive[:, t], st, tp.w_rec)
        _, st = pr_v2_step(drive[:, t], st, tp)
        _, ss = cuba_lif_step(sdrive[:, t], ss, p, sl.neuron.surrogate)
        torch.testing.assert_close(ss.u, i, rtol=1e-12, atol=1e-12)
    # thresholds: the smallest emitted level; the readout reads spikes of the mean positive amplitude
    level = (pop.threshold + 1) / float(tp.scale)
    torch.testing.assert_close(p.vth, torch.full((6,), level, dtype=torch.float64))
    y = net(x, return_spikes=True)[1][0]
    pos = (y > 0).double()
    amp = (y * pos).sum((0, 1)) / pos.sum((0, 1))
    assert bool((pos.sum((0, 1)) > 0).all())
    torch.testing.assert_close(student.readout.synapse.weight, net.readout.synapse.weight * amp[None, :])
    np.testing.assert_allclose(rep["per_neuron"]["amplitude"].numpy(), amp.numpy(), rtol=1e-12)


@torch.no_grad()
def test_statistics_and_clustering_of_a_moving_gate():
    net = _net()
    x = _frames(n=16)
    stats = pr_statistics(net, [x[:8], x[8:]])[0]
    assert stats["forget"].shape == (6,) and np.all((stats["forget"] > 0) & (stats["forget"] < 1))
    assert np.all(stats["forget_std"] > 0)                       # the gate moves: approximation 1
    # by hand: the mean sigmoid of the forget pre-activation over all samples and steps
    pop = net.layers[0].neuron
    p = pop.params()
    drive = net.layers[0].synapse(x)
    st = pop.initial_state(16, dtype=torch.float64)
    f_sum = torch.zeros(6, dtype=torch.float64)
    cands, ys = [], []
    for t in range(x.shape[1]):
        pre = drive[:, t] + st.y @ p.w_rec.t()
        f_sum += torch.sigmoid(pre[:, :6]).sum(0)
        cands.append(pre[:, 6:])
        y, st = pr_v2_step(drive[:, t], st, p)
        ys.append(y)
    # outputs are whole levels q / scale, q >= threshold + 1: "multi-level" means q > threshold + 1
    q = torch.round(torch.cat(ys) * p.scale)
    pos = q > 0
    assert pos.any()
    expected_multi = ((q > pop.threshold + 1) & pos).sum(0).double() / pos.sum(0).double()
    np.testing.assert_allclose(stats["multi_level"], expected_multi.numpy(), rtol=1e-12)
    np.testing.assert_allclose(stats["forget"], (f_sum / (16 * x.shape[1])).numpy(), rtol=1e-12)
    # the ReLU's least-squares line per neuron, as numpy's polyfit finds it
    a = torch.cat(cands).numpy()
    assert 0 < stats["cand_negative"].mean() < 1          # the ReLU acts: the line is an approximation
    for i in range(6):
        slope, offset = np.polyfit(a[:, i], np.maximum(a[:, i], 0), 1)
        assert stats["relu_slope"][i] == pytest.approx(slope, rel=1e-9, abs=1e-12)
        assert stats["relu_offset"][i] == pytest.approx(offset, rel=1e-9, abs=1e-12)
    assert np.all((stats["relu_r2"] > 0) & (stats["relu_r2"] <= 1))
    student, report = fold_network(net, x, FoldConfig(clusters=2))
    assert report["kind"] == "pr-v2" and not report["exact"]
    assert len(set(student.layers[0].neuron_params()["du"].tolist())) <= 2
    assert report["layers"][0]["decay"]["param"] == "du"


def test_needs_calibration_data_and_a_pr_network():
    with pytest.raises(ConfigError, match="calibration"):
        fold_pr_v2(_net(), None)
    lif = build_network(NetworkConfig(input_size=4, hidden=(3,), n_classes=2, neuron="lif"))
    with pytest.raises(ConfigError, match="pr-v2"):
        fold_pr_v2(lif, torch.zeros(1, 2, 4))
