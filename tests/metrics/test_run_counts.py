"""count_run / RunCounter: the per-layer table of a whole run."""

import json

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.metrics import LayerWeights, RunCounter, count_run
from spikedeploy.netspec import LayerSpec, NetworkSpec

from . import hand_network as H


def _spec():
    return NetworkSpec(input_size=3, dt=H.DT, layers=(
        LayerSpec("h", H.W1.numpy(), du=1.0, dv=0.1, vth=1.0, rec_weight=H.R.numpy()),
        LayerSpec("out", H.W2.numpy(), du=1.0, dv=0.0, vth=None)))


def test_table_of_the_hand_network():
    c = count_run(_spec(), H.X, {"h": H.S})
    assert c.layers == ("h", "out") and c.n_samples == 2 and c.dt == H.DT
    h, out = c.rows()
    assert (h.spikes_per_sample, h.rate_per_step, h.rate_hz) == (3.5, 7 / 12, 7 / (12 * 1e-3))
    assert (h.effective_acs, h.effective_macs, h.dense_ops) == (5.5, 2.0, 30.0)
    assert (h.neuron_updates, h.active_updates, h.inactive_updates) == (6.0, 5.0, 1.0)
    assert h.sparsity == 5 / 12 and h.recurrent and h.spiking and h.n_in == 3
    assert (out.spikes_per_sample, out.rate_hz, out.sparsity) == (None, None, None)
    assert (out.effective_acs, out.dense_ops, out.active_updates) == (5.5, 12.0, 4.5)
    assert c.inputs.per_sample == (1 + 2 + 0, 2 + 2 + 1)  # non-zero input entries
    d = c.to_dict()
    json.dumps(d)                                        # JSON-ready
    assert d["totals_per_sample"]["effective_acs"] == 11.0
    assert d["activation_sparsity"] == 5 / 12
    assert "h" in c.format_table()


def test_same_spikes_from_other_backends_give_equal_counts():
    # The float run (float32 torch), the emulator (int8) and Lava (numpy bool) with the
    # same spikes must give identical tables, rates included (no float drift).
    float_run = count_run(_spec(), H.X, {"h": H.S})
    emulator = count_run(_spec(), H.X.numpy(), {"h": H.S.to(torch.int8)})
    lava = count_run([LayerWeights("h", H.W1.numpy() * 64, H.R.numpy() * 64),
                      LayerWeights("out", H.W2.numpy().astype(np.int32), spiking=False)],
                     H.X.numpy(), {"h": H.S.numpy().astype(bool)}, dt=H.DT)
    assert float_run == emulator == lava
    assert [r.rate_hz for r in float_run.rows()] == [r.rate_hz for r in lava.rows()]


def test_batches_accumulate_like_one_call():
    counter = RunCounter(_spec())
    counter.update(H.X[:1], {"h": H.S[:1]}).update(H.X[1:], {"h": H.S[1:]})
    assert counter.compute() == count_run(_spec(), H.X, {"h": H.S})


def test_states_make_active_split_exact():
    c = count_run(_spec(), H.X, {"h": H.S}, states={"h": (H.H_U, H.H_V)})
    assert c.neuron_updates.per_layer["h"].per_sample_active == H.H_ACTIVE_WITH_STATE


def test_gpn_layer_before_folding():
    layers = [("g", H.W1), LayerWeights("out", H.W2, spiking=False)]
    c = count_run(layers, H.X, {"g": H.S}, gate_weights={"g": (8, 4)})
    assert set(c.synops.per_layer) == {"g", "g.gates", "out"}
    g = c.rows()[0]
    gates = c.synops.per_layer["g.gates"]
    # the row sums the input Linear and the gates
    assert g.effective_macs == c.synops.per_layer["g"].effective_macs + gates.effective_macs
    assert gates.dense_ops == 3 * 8 * 4


def test_errors():
    with pytest.raises(ConfigError):
        count_run(_spec(), H.X, {})                              # missing spikes
    with pytest.raises(ConfigError):
        count_run(_spec(), H.X, {"h": H.S, "nope": H.S})
    with pytest.raises(ConfigError):
        count_run(_spec(), H.X, {"h": H.S, "out": H.S})          # readout does not spike
    with pytest.raises(ShapeMismatchError):
        count_run(_spec(), H.X, {"h": H.S[:, :2]})               # wrong T
    with pytest.raises(ShapeMismatchError):
        count_run([("a", H.W1), ("b", H.W1)], H.X, {"a": H.S, "b": H.S})
    with pytest.raises(ConfigError):
        RunCounter(_spec()).compute()


# ------------------------------------------------------- the project's own models
def _brute_ops(inputs, weight):
    """Binarised product count per sample, straight from the definition."""
    return ((inputs != 0).double() @ (weight != 0).double().T).sum(dim=(1, 2))


def test_counts_a_trained_model_run():
    from spikedeploy.metrics import layers_from_model
    from spikedeploy.models.networks import NetworkConfig, build_network

    torch.manual_seed(0)
    net = build_network(NetworkConfig(input_size=6, hidden=(5,), n_classes=3, neuron="cuba-lif",
                                      recurrent=True, vth_init=0.3, weight_gain=3.0)).eval()
    x = (torch.rand(4, 9, 6) < 0.4).float()
    with torch.no_grad():
        net.layers[0].synapse.weight[0, :3] = 0.0    # some zero weights
        _, spikes = net(x, return_spikes=True)
    layers = layers_from_model(net)
    assert [l.name for l in layers] == ["hidden0", "readout"] and layers[0].rec_weight is not None
    c = count_run(layers, x, {"hidden0": spikes[0]}, dt=1e-3)
    s = spikes[0].detach()
    assert s.sum() > 0
    w, r, w_out = (l.detach() for l in (net.layers[0].synapse.weight,
                                         net.layers[0].recurrent.weight,
                                         net.readout.synapse.weight))
    s_prev = torch.cat([torch.zeros_like(s[:, :1]), s[:, :-1]], dim=1)
    hidden = c.synops.per_layer["hidden0"]
    assert hidden.per_sample_acs == tuple(int(v) for v in _brute_ops(x, w) + _brute_ops(s_prev, r))
    assert c.synops.per_layer["readout"].acs_total == int(_brute_ops(s, w_out).sum())
    assert c.spikes.per_layer["hidden0"].spikes == int(s.sum())
    assert c.rows()[0].rate_per_step == int(s.sum()) / s.numel()


def test_counts_a_gpn_model_before_folding():
    from spikedeploy.metrics import layers_from_model
    from spikedeploy.models.networks import NetworkConfig, build_network

    torch.manual_seed(1)
    net = build_network(NetworkConfig(input_size=6, hidden=(4,), n_classes=3, neuron="gpn",
                                      readout="mean-linear", synapse_bias=True)).eval()
    x = (torch.rand(2, 5, 6) < 0.5).float()
    with torch.no_grad():
        _, spikes = net(x, return_spikes=True)
    c = count_run(layers_from_model(net), x, {"hidden0": spikes[0]})
    gates = c.synops.per_layer["hidden0.gates"]
    assert gates.dense_ops == 5 * (2 * 4) * (4 * 4)
    assert gates.acs_total == 0 and gates.macs_total > 0
    # every v entry counts on each step: at least the v half of the gate matrix per step
    assert gates.effective_macs >= 5 * 4 * 16


def test_counts_a_spec_network_run_with_its_voltages():
    from spikedeploy.models.spec_network import SpecNetwork

    spec = NetworkSpec(input_size=3, dt=H.DT, layers=(
        LayerSpec("h", H.W1.numpy() * 2, du=1.0, dv=0.1, vth=1.5, rec_weight=H.R.numpy()),
        LayerSpec("out", H.W2.numpy(), du=1.0, dv=0.0, vth=None)))
    run = SpecNetwork(spec).run(H.X)
    c = count_run(spec, H.X, {"h": run.outputs[0]}, states={"h": run.voltages[0],
                                                             "out": run.voltages[1]})
    nu = c.neuron_updates.per_layer["h"]
    assert nu.state_given
    s, v = run.outputs[0], run.voltages[0]
    shift = lambda t: torch.cat([torch.zeros_like(t[:, :1]), t[:, :-1]], dim=1)  # noqa: E731
    events = ((H.X != 0).float() @ (H.W1 != 0).float().T
              + shift((s != 0).float()) @ (H.R != 0).float().T)
    expected = ((events > 0) | shift(v != 0)).sum(dim=(1, 2))
    assert nu.per_sample_active == tuple(int(k) for k in expected)
    without = count_run(spec, H.X, {"h": s}).neuron_updates.per_layer["h"]
    assert nu.active > without.active              # the voltage trace adds decaying neurons
    assert c.spikes.per_layer["h"].spikes == int((run.outputs[0] != 0).sum())


def test_readout_spike_trace_is_accepted_only_when_silent():
    silent = count_run(_spec(), H.X, {"h": H.S, "out": torch.zeros(2, 3, 2, dtype=torch.int8)})
    assert silent == count_run(_spec(), H.X, {"h": H.S})


def test_counts_an_emulator_run_like_the_float_run():
    from spikedeploy.metrics import layers_of
    from spikedeploy.quant.emulator import emulate
    from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

    net = LoihiNetwork(input_size=3, layers=(
        LoihiLayer("h", np.array([[64, 0, 32], [0, -128, 16]]), weight_exp=0, du=4095, dv=400,
                   vth=40, rec_weight=np.array([[0, 64], [32, 0]])),
        LoihiLayer("out", np.array([[0, 192], [64, 64]]), weight_exp=0, du=4095, dv=0,
                   spiking=False)))
    x = (H.X != 0).to(torch.int8)                  # the emulator takes 0/1 input spikes
    res = emulate(net, x, record=("s", "v", "u"))
    states = {k: (res.current[k], res.voltage[k]) for k in ("h", "out")}
    c = count_run(net, x, res.spikes, states=states, dt=H.DT)
    s = res.spikes["h"]
    assert int(s.sum()) > 0
    assert c.spikes.per_layer["h"].per_sample == tuple(int(v) for v in s.sum(dim=(1, 2)))
    # The same spikes as float32 through the float network's description count the same
    # SynOps and spikes; layer names and weights' zero patterns are shared.
    float_counts = count_run(_spec(), x.float(), {"h": s.float()}, dt=H.DT)
    assert float_counts.synops == c.synops and float_counts.spikes == c.spikes
    assert float_counts.sparsity == c.sparsity
    assert [l.name for l in layers_of(net)] == ["h", "out"]
    # with the integer (u, v) trace, every neuron whose state is non-zero counts as active
    u, v = states["h"]
    shift = lambda t: torch.cat([torch.zeros_like(t[:, :1]), t[:, :-1]], dim=1)  # noqa: E731
    assert c.neuron_updates.per_layer["h"].active >= int((shift((u != 0) | (v != 0))).sum())


def test_a_delayed_layer_reads_every_taps_weights_on_a_conventional_device():
    from spikedeploy.metrics.devices import BYTES_FP32, workload_from_counts
    from spikedeploy.quant.emulator import emulate

    from ..quant.small_nets import delayed_net

    net, rng = delayed_net()
    x = (rng.random((3, 12, 12)) < 0.3).astype(np.uint8)
    counts = count_run(net, x, {"hidden": emulate(net, x).spikes["hidden"]}, dt=1e-3)
    assert counts.n_in == (36, 20)                        # 3 taps x 12 inputs, 2 taps x 10
    # hidden: 3 taps of 10 x 12 and the recurrent 10 x 10; readout: 2 taps of 4 x 10
    assert workload_from_counts(counts).weight_bytes == (10 * 36 + 10 * 10 + 4 * 20) * BYTES_FP32
