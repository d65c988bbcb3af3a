"""Lava (real lava-nc, no mocks) against hand traces and the emulator, spike for spike.

Small networks and few steps: each Lava run costs a few seconds of process start-up.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.lava
if importlib.util.find_spec("lava") is None:  # pragma: no cover - depends on the environment
    pytest.skip("lava-nc is not installed (scripts/sd setup installs it)", allow_module_level=True)

from spikedeploy.errors import VerificationError  # noqa: E402
from spikedeploy.lava_backend.run import run_stream, verify_bit_exact  # noqa: E402
from spikedeploy.quant.emulator import emulate, quiet_gap  # noqa: E402

from ..quant.small_nets import (TRACE_A, TRACE_A_INPUT, TRACE_A_S, TRACE_A_U, TRACE_A_V,  # noqa: E402
                                delayed_net, negative_exp_net, random_spikes, recurrent_net, single_neuron,
                                two_layer_spec)


def test_single_lif_neuron_in_lava_follows_the_hand_trace():
    net = single_neuron(**TRACE_A)
    x = np.array(TRACE_A_INPUT, dtype=np.uint8).reshape(1, -1, 1)
    res = run_stream(net, x, record_voltage="all", record_current="all")
    per = res.per_sample()
    assert per["current"]["lif"][0, :, 0].tolist() == TRACE_A_U
    assert per["voltage"]["lif"][0, :, 0].tolist() == TRACE_A_V
    assert per["spikes"]["lif"][0, :, 0].tolist() == TRACE_A_S


def test_single_lif_neuron_in_lava_floating_point():
    # Lava's float LIF with float_parameters: u = 0.75 u + 100 x, v = 0.5 v + u + 20/64, v > 150.
    # In units of 1/64 the trace is the integer one except where the integer model rounds:
    # t5: u = 11125 * 0.75 = 8343.75 (the integer model keeps 8343), v = 8343.75 + 20.
    net = single_neuron(**TRACE_A)
    x = np.array(TRACE_A_INPUT, dtype=np.uint8).reshape(1, -1, 1)
    res = run_stream(net, x, config="floating_pt", record_voltage="all", record_current="all")
    per = res.per_sample()
    assert per["current"]["lif"][0, :, 0].tolist() == [6400, 11200, 8400, 6300, 11125, 8343.75]
    assert per["voltage"]["lif"][0, :, 0].tolist() == [6420, 0, 8420, 0, 0, 8363.75]
    assert per["spikes"]["lif"][0, :, 0].tolist() == TRACE_A_S


def test_recurrent_stream_without_gap_equals_the_emulator_with_carry():
    """Several samples back to back, no gap: the recurrent Dense carries spikes across resets,
    and the emulator's stream mode reproduces Lava spike for spike, voltage for voltage."""
    net, rng = recurrent_net(quiet=False)
    x = random_spikes(rng, 4, 10, 20, 0.25)
    res = run_stream(net, x, gap_steps=0, record_voltage="all", record_current="all")
    emu = verify_bit_exact(res)                      # raises VerificationError on any difference
    assert int(emu.carry_spikes.sum()) > 0           # the subtle case is really exercised
    assert 0.1 < float(res.spikes["hidden"].mean()) < 0.9
    assert int(np.abs(res.voltage["out"]).max()) > 0
    # and the check would notice a single flipped spike
    tampered = dict(res.spikes)
    tampered["hidden"] = res.spikes["hidden"].copy()
    tampered["hidden"][0, 7, 3] ^= 1
    from dataclasses import replace
    with pytest.raises(VerificationError):
        verify_bit_exact(replace(res, spikes=tampered))


def test_batched_replicas_with_quiet_gap_equal_independent_runs():
    """Three copies side by side (block-diagonal Sparse), gap from the stream rule: Lava equals the
    emulator's stream, and each sample's window equals an independent per-sample run."""
    net, rng = recurrent_net(quiet=True)
    x = random_spikes(rng, 5, 12, 20, 0.25)
    gap = quiet_gap(net, x, max_gap=30)
    assert gap is not None
    res = run_stream(net, x, gap_steps=gap, replicas=3, record_voltage="all")
    assert res.replicas == 3 and res.layout.n_samples == 2        # 5 samples -> 3 x 2 (one padding)
    emu = verify_bit_exact(res)
    assert emu.independent
    ref = emulate(net, x)
    per = res.per_sample()
    for name in net.layer_names:
        np.testing.assert_array_equal(per["spikes"][name], ref.spikes[name].numpy())
        np.testing.assert_array_equal(per["voltage"][name], ref.voltage[name].numpy())
    assert np.array_equal(res.readout, ref.readout.numpy())


def test_negative_exponents_on_split_groups_are_bit_exact():
    net, rng = negative_exp_net()
    x = random_spikes(rng, 3, 10, 20, 0.3)
    res = run_stream(net, x, gap_steps=2, replicas=2, record_voltage="all", record_current="all")
    verify_bit_exact(res)
    # the per-group flooring matters on this data: flooring the whole sum would differ
    w, s = net.layers[1].weight.astype(np.int64), res.spikes["hidden"].astype(np.int64)
    whole = (s @ w.T) >> 2
    parts = sum((s[..., g.neurons] @ w[:, g.neurons].T) >> 2 for g in net.layers[0].decay_groups())
    assert np.any(whole != parts)


def test_a_single_input_spike_arrives_after_exactly_its_delay_in_lava():
    from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork
    layer = LoihiLayer("lif", np.array([[0, 100]]), 0, 4095, 0, vth=100000, delays=(0, 4))   # only the delay-4 tap
    x = np.zeros((1, 8, 1), dtype=np.uint8)
    x[0, 1, 0] = 1
    res = run_stream(LoihiNetwork(1, (layer,)), x, gap_steps=4, record_current="all")
    verify_bit_exact(res)
    u = res.per_sample()["current"]["lif"][0, :, 0]
    assert u.tolist() == [0, 0, 0, 0, 0, 6400, 0, 0]          # sent at step 1, received at step 1 + 4


@pytest.mark.parametrize("exp, connection", [(1, "dense"), (-2, "sparse")])
def test_delayed_taps_are_bit_exact_in_lava(exp, connection):
    """DelayDense / DelaySparse per tap (negative exponent: each tap and group floored alone), two copies
    side by side, the gap from the stream rule: Lava equals the emulator, each window its own run."""
    net, rng = delayed_net(exp=exp)
    x = random_spikes(rng, 4, 12, 12, 0.3)
    gap = quiet_gap(net, x, max_gap=40)
    res = run_stream(net, x, gap_steps=gap, replicas=2, record_voltage="all", connection=connection)
    assert verify_bit_exact(res).independent
    assert 0.01 < float(res.spikes["hidden"].mean()) < 0.9
    ref = emulate(net, x)
    for name in net.layer_names:
        np.testing.assert_array_equal(res.per_sample()["voltage"][name], ref.voltage[name].numpy())


@pytest.mark.parametrize("connection", ["dense", "sparse"])
def test_graded_input_payloads_are_bit_exact_in_lava(connection):
    """8-bit signed payloads into a delayed first layer (num_message_bits on every tap's connection)."""
    from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork
    rng = np.random.default_rng(4)
    hidden = LoihiLayer("hidden", rng.integers(-20, 20, (6, 8)) * 2, 0, 2000, 1000, vth=3000, delays=(0, 2))
    out = LoihiLayer("out", rng.integers(-50, 50, (3, 6)) * 2, 0, 4095, 0, vth=None, spiking=False)
    net = LoihiNetwork(4, (hidden, out), input_bits=8)
    x = rng.integers(-128, 128, (3, 10, 4)).astype(np.int32)
    x[rng.random(x.shape) < 0.5] = 0
    res = run_stream(net, x, gap_steps=3, replicas=2, record_voltage="all", connection=connection)
    verify_bit_exact(res)
    assert 0.05 < float(res.spikes["hidden"].mean()) < 0.9
    np.testing.assert_array_equal(res.per_sample()["voltage"]["out"], emulate(net, x).voltage["out"].numpy())
    with pytest.raises(Exception, match=r"\[-128, 127\]"):
        run_stream(net, x * 2, gap_steps=3)


def test_a_float_network_reading_graded_payloads_takes_them_as_they_are_in_lava():
    """floating_pt: the payload network's first connections get num_message_bits (not binarised)."""
    import torch

    from spikedeploy.models.spec_network import SpecNetwork
    from spikedeploy.quant.graded_input import encode, input_scale, payload_spec
    rng = np.random.default_rng(5)
    spec = two_layer_spec(rng, 5, 0.8)
    x = rng.normal(size=(4, 8, 3))
    s = input_scale(x, 8)
    p = payload_spec(spec, s, 8)
    payloads = encode(x, s, 8)
    res = run_stream(p, payloads, gap_steps=4, config="floating_pt", record_voltage="all")
    with torch.no_grad():
        ref = SpecNetwork(p, dtype=torch.float64).run(torch.as_tensor(payloads, dtype=torch.float64))
    np.testing.assert_array_equal(res.per_sample()["spikes"]["h"], ref.outputs[0].numpy() > 0.5)
    assert 0.05 < float(res.spikes["h"].mean()) < 0.95


def test_lava_imports_after_the_start_method_was_fixed():
    """Lava's import calls multiprocessing.set_start_method('fork') without force; require_lava
    must survive a process where something already fixed the start method."""
    import subprocess
    import sys
    code = ("import multiprocessing as mp; mp.get_context(); "
            "from spikedeploy.lava_backend import require_lava; require_lava(); "
            "import lava.proc.dense.process; print(mp.get_start_method())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "fork"
