import numpy as np
import pytest
import torch

from spikedeploy.errors import ShapeMismatchError
from spikedeploy.models.neurons.lif import CubaLIF
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.models.surrogate import make_surrogate
from spikedeploy.netspec import LayerSpec, NetworkSpec


def _one_neuron(**kw):
    return NetworkSpec(1, (LayerSpec("n", np.ones((1, 1)), **kw),))


def test_cuba_lif_trace_matches_hand_computation():
    # du = 0.5, dv = 0.25, vth = 1; inputs 1, 0, 0, 1 (all values exact in binary):
    # t1: u = 1,     v = 1               (not > 1)
    # t2: u = 0.5,   v = 0.75 + 0.5 = 1.25 -> spike, v = 0
    # t3: u = 0.25,  v = 0.25
    # t4: u = 1.125, v = 0.1875 + 1.125 = 1.3125 -> spike, v = 0
    net = SpecNetwork(_one_neuron(du=0.5, dv=0.25, vth=1.0))
    run = net.run(torch.tensor([1.0, 0, 0, 1]).reshape(1, 4, 1))
    assert run.outputs[0].flatten().tolist() == [0, 1, 0, 1]
    assert run.voltages[0].flatten().tolist() == [1.0, 0.0, 0.25, 0.0]


def test_bias_and_strict_threshold():
    # v_t = v_{t-1} + 0 + 0.5 (dv = 0): 0.5, 1.0 (== vth: no spike), 1.5 -> spike, 0.5
    net = SpecNetwork(_one_neuron(du=1.0, dv=0.0, vth=1.0, bias=0.5))
    run = net.run(torch.zeros(1, 4, 1))
    assert run.outputs[0].flatten().tolist() == [0, 0, 1, 0]
    assert run.voltages[0].flatten().tolist() == [0.5, 1.0, 0.0, 0.5]


@pytest.mark.parametrize("readout, expected", [("last", 1.0), ("mean", float(np.float32(1) / np.float32(3))), ("max", 4.0)])
def test_readouts(readout, expected):
    # non-spiking, dv = 0.5: inputs 4, 0, 0 -> v = 4, 2, 1
    spec = NetworkSpec(1, (LayerSpec("o", np.ones((1, 1)), du=1.0, dv=0.5, vth=None),), readout=readout)
    net = SpecNetwork(spec)
    x = torch.tensor([4.0, 0, 0]).reshape(1, 3, 1)
    assert net.run(x).voltages[0].flatten().tolist() == [4.0, 2.0, 1.0]
    assert net(x).item() == pytest.approx(expected, abs=0)


def test_mean_readout_is_the_mean_of_w_s_plus_b():
    # du = 1, dv = 0: v_T = sum_t (W s_t + b), so "mean" = mean over time (the GPN readout)
    rng = np.random.default_rng(3)
    w = rng.normal(size=(2, 5)).astype(np.float32)
    b = np.array([0.25, -0.5], np.float32)
    spec = NetworkSpec(5, (LayerSpec("o", w, du=1.0, dv=0.0, vth=None, bias=b),), readout="mean")
    x = torch.from_numpy((rng.random((3, 7, 5)) < 0.5).astype(np.float32))
    expected = (x @ torch.from_numpy(w).T + torch.from_numpy(b)).mean(1)
    torch.testing.assert_close(SpecNetwork(spec)(x), expected, rtol=1e-6, atol=1e-6)


def test_recurrence_reads_previous_spikes():
    # two neurons; neuron 0 is driven to spike at t1; W_rec[1, 0] = 2 makes neuron 1 spike at t2 only
    w = np.array([[2.0], [0.0]], np.float32)
    rec = np.array([[0.0, 0.0], [2.0, 0.0]], np.float32)
    spec = NetworkSpec(1, (LayerSpec("r", w, du=1.0, dv=1.0, vth=1.0, rec_weight=rec),))
    run = SpecNetwork(spec).run(torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1))
    assert run.outputs[0][0].tolist() == [[1, 0], [0, 1], [0, 0]]


def test_non_spiking_hidden_layer_passes_its_voltage():
    spec = NetworkSpec(1, (LayerSpec("li", np.ones((1, 1)), du=1.0, dv=0.5, vth=None),
                           LayerSpec("o", np.full((1, 1), 2.0), du=1.0, dv=1.0, vth=None)))
    run = SpecNetwork(spec).run(torch.tensor([4.0, 0.0]).reshape(1, 2, 1))
    assert run.outputs[0].flatten().tolist() == [4.0, 2.0]
    assert run.outputs[1].flatten().tolist() == [8.0, 4.0]


def test_equals_the_models_cuba_lif_population():
    # The spec simulator and the training module share cuba_lif_step: same spikes, bit for bit.
    torch.manual_seed(0)
    n_in, n = 6, 8
    pop = CubaLIF(n, make_surrogate("atan"), recurrent=True)
    rng = np.random.default_rng(0)
    pop.set_neuron_params(du=rng.uniform(0.1, 0.9, n), dv=rng.uniform(0.1, 0.9, n),
                          vth=rng.uniform(0.5, 1.5, n), bias=rng.normal(0, 0.1, n))
    w = torch.randn(n, n_in)
    p = pop.neuron_params()
    layer = LayerSpec("h", w.numpy(), du=p["du"].numpy(), dv=p["dv"].numpy(), vth=p["vth"].numpy(),
                      bias=p["bias"].numpy(), rec_weight=pop.recurrent.weight.detach().numpy())
    x = (torch.rand(3, 40, n_in) < 0.3).float()
    with torch.no_grad():
        spikes, _ = pop(x @ w.T)
        ours = SpecNetwork(NetworkSpec(n_in, (layer,))).run(x).outputs[0]
    assert spikes.sum().item() > 0
    assert torch.equal(spikes, ours)


def test_bad_input_shape():
    net = SpecNetwork(_one_neuron(du=1.0, dv=1.0, vth=1.0))
    with pytest.raises(ShapeMismatchError, match="input"):
        net(torch.zeros(1, 3, 2))
    with pytest.raises(ShapeMismatchError, match="time steps"):
        net(torch.zeros(1, 0, 1))
