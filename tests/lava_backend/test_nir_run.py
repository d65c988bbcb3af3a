"""lava-run's pieces: binning resolution, data checks, readout, carried samples, per-neuron decays in Lava."""

import importlib.util

import numpy as np
import pytest

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.lava_backend.nir_run import (check_data_against_graph, choose_samples, float_quiet_gap,
                                              readout_values, resolve_binning)
from spikedeploy.netspec import LayerSpec, NetworkSpec

from ..quant.small_nets import negative_exp_net, random_spikes, recurrent_net


def test_binning_fields_come_from_options_then_the_graph_then_the_defaults():
    b, src = resolve_binning({"n_steps": 50, "duration": 0.5, "binary": False, "pool": 2, "n_channels": 40}, 700,
                             n_steps=20)
    assert (b.n_steps, b.duration, b.binary, b.pool, b.n_channels) == (20, 0.5, False, 2, 700)
    assert src == {"n_steps": "option", "duration": "graph metadata", "pool": "graph metadata",
                   "binary": "graph metadata"}
    b, src = resolve_binning(None, 700)
    assert (b.n_steps, b.duration, b.binary, b.pool) == (100, 1.0, True, 1)
    assert set(src.values()) == {"assumed (default)"}


def test_data_that_does_not_fit_the_graph_is_refused_with_a_remedy():
    b, _ = resolve_binning(None, 700)
    with pytest.raises(ShapeMismatchError, match="more than the graph's 100 inputs") as info:
        check_data_against_graph("d.h5", 700, b, 100, 20, 20)
    assert "--pool 7" in info.value.remedy
    b, _ = resolve_binning(None, 40)
    with pytest.raises(ShapeMismatchError, match="fewer than"):
        check_data_against_graph("d.h5", 40, b, 100, 20, 20)
    b, _ = resolve_binning(None, 100)
    with pytest.raises(ShapeMismatchError, match="classes"):
        check_data_against_graph("d.h5", 100, b, 100, 35, 20)
    check_data_against_graph("d.h5", 100, b, 100, 20, 20)


def test_samples_are_spread_over_the_classes():
    labels = np.repeat(np.arange(4), 10)            # sorted by class, as many files are
    idx = choose_samples(labels, 8)
    assert idx.tolist() == sorted(idx.tolist()) and np.bincount(labels[idx]).tolist() == [2, 2, 2, 2]
    assert choose_samples(labels, None).tolist() == list(range(40))
    assert choose_samples(labels, 99).size == 40
    with pytest.raises(ConfigError):
        choose_samples(labels, 0)


def test_readout_values_follow_the_readout_mode():
    v = np.array([[[1, 5], [4, 2], [3, 3]]])          # [N=1, T=3, 2]
    assert readout_values(v, None, "last", False, True).tolist() == [[3, 3]]
    assert readout_values(v, None, "max", False, True).tolist() == [[4, 5]]
    assert readout_values(v, None, "mean", False, True).tolist() == [[3, 3]]       # integer: the sum's argmax
    assert readout_values(v.astype(float), None, "mean", False, False).tolist() == [[1.0, 1.0]]
    s = np.array([[[1, 0], [1, 1], [1, 0]]])
    assert readout_values(None, s, "last", True, True).tolist() == [[3, 1]]       # spike counts


def test_float_quiet_gap_finds_when_the_recurrent_layer_falls_silent():
    # one recurrent neuron (zero recurrent weight) whose current decays by half, v without memory:
    # an input spike gives u = v = 2, 1, 0.5, ... -> it fires while v > 0.75, i.e. on 2 steps
    hidden = LayerSpec("h", np.array([[2.0]]), du=0.5, dv=1.0, vth=0.75, rec_weight=np.array([[0.0]]))
    out = LayerSpec("o", np.array([[1.0]]), du=1.0, dv=1.0, vth=None)
    spec = NetworkSpec(1, (hidden, out))
    x = np.zeros((1, 4, 1), dtype=np.uint8)
    x[0, 3, 0] = 1                                    # input on the last step (3)
    # spikes at steps 3 and 4, silent from step 5: a gap of 2 ends the window (T + G - 1) at step 5
    assert float_quiet_gap(spec, x, 10) == 2
    x[0, 3, 0] = 0
    assert float_quiet_gap(spec, x, 10) == 0


lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


@pytest.mark.lava
@lava
def test_per_neuron_decays_are_bit_exact_and_carried_samples_are_read_from_lava():
    """One Lava process per layer with per-neuron du/dv/vth (simulation only): equal to the emulator's
    stream spike for spike; carried samples counted from Lava's recordings match the emulator's carry,
    and stream_reference reproduces the per-sample windows (which differ from independent runs)."""
    from spikedeploy.lava_backend.nir_run import carried_samples, stream_reference
    from spikedeploy.lava_backend.run import run_stream, verify_bit_exact
    from spikedeploy.quant.emulator import emulate

    net, rng = recurrent_net(quiet=False)          # bias-driven neurons: spikes cross every reset
    x = random_spikes(rng, 5, 8, 20, 0.25)
    res = run_stream(net, x, gap_steps=0, replicas=2, decays="per-neuron", record_voltage="all")
    assert res.spikes["hidden"].shape == (2, res.layout.total_steps, 16)
    emu = verify_bit_exact(res)                    # VerificationError at any difference
    carried = carried_samples(res)
    expected = emu.carry_spikes[:, :, 0].reshape(-1)[:5].numpy() > 0
    assert carried.tolist() == expected.tolist() and carried.any()
    ref = stream_reference(net, x, replicas=2, gap_steps=0)
    per = res.per_sample()
    for name in net.layer_names:
        np.testing.assert_array_equal(per["spikes"][name], ref.spikes[name].numpy())
    assert not np.array_equal(per["spikes"]["hidden"], emulate(net, x).spikes["hidden"].numpy())


def test_per_neuron_decays_refuse_negative_exponents_over_several_groups():
    from spikedeploy.lava_backend.build import _check_per_neuron

    net, _ = negative_exp_net()
    with pytest.raises(ConfigError, match="negative weight exponent"):
        _check_per_neuron(net)
    _check_per_neuron(recurrent_net()[0])          # exponents >= 0: allowed
