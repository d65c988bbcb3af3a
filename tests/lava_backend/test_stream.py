"""Planning a Lava stream and reading it back: readout values, the float quiet gap, the decay mode,
carried samples and per-neuron decays in Lava."""

import importlib.util

import numpy as np
import pytest

from spikedeploy.errors import ConfigError
from spikedeploy.lava_backend.adapters import from_integers
from spikedeploy.lava_backend.stream import AUTO_MAX_DECAY_GROUPS, choose_decays, float_quiet_gap, readout_values
from spikedeploy.netspec import LayerSpec, NetworkSpec
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

from ..quant.small_nets import random_spikes, recurrent_net


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
    from spikedeploy.lava_backend.run import run_stream, verify_bit_exact
    from spikedeploy.lava_backend.stream import carried_samples
    from spikedeploy.quant.emulator import emulate, stream_reference

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


def test_auto_decays_take_groups_up_to_the_limit_then_per_neuron_unless_it_cannot_be_exact():
    def net(n_groups, exp=0):
        h = LoihiLayer("h", np.ones((12, 2), int) * 2, exp, du=np.arange(12) % n_groups, dv=0, vth=100)
        o = LoihiLayer("o", np.ones((1, 12), int) * 2, exp, 0, 0, spiking=False)
        return from_integers(LoihiNetwork(2, (h, o)))

    assert choose_decays(net(AUTO_MAX_DECAY_GROUPS), "auto") == ("groups", [])
    mode, notes = choose_decays(net(AUTO_MAX_DECAY_GROUPS + 1), "auto")
    assert mode == "per-neuron" and "h: 9" in notes[0] and "simulation" in notes[0]
    mode, notes = choose_decays(net(AUTO_MAX_DECAY_GROUPS + 1, exp=-1), "auto")
    assert mode == "groups" and "negative weight exponent" in notes[0]
    assert choose_decays(net(AUTO_MAX_DECAY_GROUPS + 1), "groups") == ("groups", [])
    with pytest.raises(ConfigError, match="unknown mode"):
        choose_decays(net(1), "some")
