"""Emulator: hand-computed integer traces, the Lava stream timing, the stream rule, overflows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, QuantizationError, ShapeMismatchError, VerificationError
from spikedeploy.quant.emulator import (StreamLayout, emulate, emulate_stream, quiet_gap, source_parts,
                                        verify_identical)
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

from .small_nets import (TRACE_A, TRACE_A_INPUT, TRACE_A_S, TRACE_A_U, TRACE_A_V, delayed_net,
                         negative_exp_net, random_spikes, recurrent_net, single_neuron)


def run_one(net, inputs, **kw):
    x = torch.tensor(inputs, dtype=torch.int64).reshape(1, -1, 1)
    r = emulate(net, x, record=("s", "v", "u"), **kw)
    name = net.layer_names[0]
    return r.current[name][0, :, 0].tolist(), r.voltage[name][0, :, 0].tolist(), r.spikes[name][0, :, 0].tolist()


def test_hand_trace_spiking_with_bias():
    # du = 1023: u *= 3072/4096 ; dv = 2048: v *= 2048/4096 ; a_in = 100 -> +6400 ; bias 10 << 1 = 20
    # t0 u=6400 v=6420 ; t1 u=4800+6400=11200 v=3210+11200+20=14430 > 9600 spike ; t2 u=8400 v=8420
    # t3 u=6300 v=4210+6300+20=10530 spike ; t4 u=4725+6400=11125 v=11145 spike ; t5 u=8343 (8343.75) v=8363
    u, v, s = run_one(single_neuron(**TRACE_A), TRACE_A_INPUT)
    assert u == TRACE_A_U and v == TRACE_A_V and s == TRACE_A_S


def test_hand_trace_negative_values_round_toward_zero():
    # a_in = -3 -> u = -192 ; du = dv = 1000: factors 3095 and 3096
    # t1: -192*3095 = -594240 -> -145 (floor: -146) ; v: -192*3096 = -594432 -> -145 ; v = -145 - 145 = -290
    # t2: -145*3095 = -448775 -> -109 (109.56) ; v: -290*3096 = -897840 -> -219 (219.2) ; v = -328
    u, v, s = run_one(single_neuron([[-3]], 0, 1000, 1000, 10), [1, 0, 0])
    assert u == [-192, -145, -109] and v == [-192, -290, -328] and s == [0, 0, 0]


def test_hand_trace_current_wraps_at_24_bits():
    # a_in = 255 << 7 = 32640 -> u += 2088960 ; du = 0: u *= 4095/4096 ; dv = 4095: v keeps 1/4096
    # t1 u = 2088960 - 510 + 2088960 = 4177410, v = 510 + u = 4177920
    # t2 u = 4176390 (4176390.1) + 2088960 = 6265350, v = 1020 + u = 6266370
    # t3 u = 6263820 + 2088960 = 8352780, v = 1529 + u = 8354309 (< 131071 << 6 = 8388544: no spike)
    # t4 u = 8350740 + 2088960 = 10439700 > 2^23 -> 10439700 - 2^24 = -6337516, v = 2039 - 6337516
    u, v, s = run_one(single_neuron([[255]], 7, 0, 4095, 131071), [1, 1, 1, 1, 1])
    assert u == [2088960, 4177410, 6265350, 8352780, -6337516]
    assert v == [2088960, 4177920, 6266370, 8354309, -6335477]
    assert s == [0, 0, 0, 0, 0]


def test_voltage_saturates_and_spike_is_strict():
    # a_in 255 << 7 every step, du = 4095 (u = a_in << 6 each step), dv = 0 (v keeps everything)
    # v: 2088960, 4177920, 6266880, 8355840, then 10444800 clipped to 8388607
    u, v, s = run_one(single_neuron([[255]], 7, 4095, 0, 131071), [1] * 5, on_overflow="ignore")
    assert v == [2088960, 4177920, 6266880, 8355840, 0] and s == [0, 0, 0, 0, 1]  # 8388607 > 8388544
    # strictly greater: v == vth << 6 does not spike (a_in 1 -> u = v = 64 = 1 << 6)
    u, v, s = run_one(single_neuron([[1]], 0, 4095, 4095, 1), [1, 1])
    assert v == [64, 64] and s == [0, 0]


def test_stream_layout_numbers():
    lay = StreamLayout(sample_steps=5, n_samples=3, depth=2, gap_steps=2)
    assert (lay.reset_interval, lay.total_steps) == (7, 23)
    assert (lay.reset_offset(1), lay.reset_offset(2)) == (2, 3)    # Lava's time_step is 1-based
    assert [s for s in range(lay.total_steps) if lay.resets_at(s, 2)] == [2, 9, 16]
    assert lay.window(2, 1) == slice(9, 14)
    x = np.arange(3 * 5 * 1).reshape(3, 5, 1) + 1
    packed = lay.pack(x)
    assert packed.shape == (23, 1)
    assert packed[:, 0].tolist() == [1, 2, 3, 4, 5, 0, 0, 6, 7, 8, 9, 10, 0, 0, 11, 12, 13, 14, 15, 0, 0, 0, 0]
    assert torch.equal(lay.pack(torch.as_tensor(x)), torch.as_tensor(packed))
    with pytest.raises(ConfigError):
        StreamLayout(sample_steps=0, n_samples=1, depth=1)


def test_stream_of_a_feedforward_net_equals_independent_runs_without_gap():
    net, rng = recurrent_net(quiet=False)
    ff = LoihiNetwork(net.input_size, tuple(
        LoihiLayer(l.name, l.weight, l.weight_exp, l.du, l.dv, vth=l.vth if l.spiking else None,
                   bias_mant=l.bias_mant, bias_exp=l.bias_exp, spiking=l.spiking) for l in net.layers))
    x = random_spikes(rng, 4, 10, 20, 0.25)
    lay = StreamLayout(10, 4, 2, gap_steps=0)
    st = emulate_stream(ff, lay.pack(x)[None], lay)
    assert int(st.carry_spikes.sum()) == 0       # nothing recurrent, nothing carried
    ref, got = emulate(ff, x), st.per_sample()
    assert ref.firing_rates()["hidden"] > 0.05
    for name in ff.layer_names:
        assert torch.equal(got.spikes[name], ref.spikes[name])
        assert torch.equal(got.voltage[name], ref.voltage[name])


def test_recurrent_carry_and_the_quiet_gap_rule():
    net, rng = recurrent_net(quiet=True)
    x = random_spikes(rng, 4, 12, 20, 0.25)
    gap = quiet_gap(net, x, max_gap=30)
    assert gap is not None and gap >= 1
    ref = emulate(net, x)
    assert 0.2 < ref.firing_rates()["hidden"] < 0.6
    # every sample gets a successor (the first one again), so each sample's tail can carry
    stream_samples = np.concatenate([x, x[:1]])
    ref = emulate(net, stream_samples)
    for g, carried in ((0, True), (gap - 1, True), (gap, False)):
        lay = StreamLayout(12, 5, 2, gap_steps=g)
        st = emulate_stream(net, lay.pack(stream_samples)[None], lay)
        assert (int(st.carry_spikes.sum()) > 0) == carried
        assert st.independent == (not carried)
        got = st.per_sample()
        same = all(torch.equal(got.spikes[n], ref.spikes[n]) and torch.equal(got.voltage[n], ref.voltage[n])
                   for n in net.layer_names)
        assert same == (not carried)
    # the readout is not recurrent: it never carries
    assert int(st.carry_spikes[..., 1].sum()) == 0


def test_bias_driven_activity_has_no_quiet_gap():
    net, rng = recurrent_net(quiet=False)
    x = random_spikes(rng, 2, 12, 20, 0.25)
    assert quiet_gap(net, x, max_gap=20) is None
    silence = emulate(net, np.zeros((1, 40, 20), dtype=np.uint8)).spikes["hidden"][0]
    assert silence[:, :4].tolist() == [[1, 1, 1, 1]] * 40     # the biased neurons fire with no input at all


def test_batched_streams_are_independent_rows():
    net, rng = recurrent_net(quiet=False)
    x = random_spikes(rng, 6, 8, 20, 0.25)
    lay = StreamLayout(8, 3, 2, gap_steps=1)
    both = emulate_stream(net, lay.pack(x.reshape(2, 3, 8, 20)), lay, record=("s", "v", "u"))
    for b in range(2):
        one = emulate_stream(net, lay.pack(x[3 * b:3 * b + 3])[None], lay, record=("s", "v", "u"))
        for name in net.layer_names:
            for kind in ("spikes", "voltage", "current"):
                assert torch.equal(getattr(both, kind)[name][b], getattr(one, kind)[name][0])
        assert torch.equal(both.carry_spikes[b], one.carry_spikes[0])
    assert both.per_sample().spikes["hidden"].shape == (6, 8, 16)


def test_negative_exponent_floors_each_source_group():
    # two hidden neurons in two decay groups both spike at t0; the readout sums them with
    # weight 1 and exponent -1: Lava floors per group: (1 >> 1) + (1 >> 1) = 0, not (2 >> 1) = 1
    def net(dv):
        hidden = LoihiLayer("hidden", np.array([[2], [2]]), 0, 4095, dv, vth=0)
        out = LoihiLayer("out", np.array([[1, 1]]), -1, 4095, 4095, vth=None, spiking=False)
        return LoihiNetwork(1, (hidden, out))
    x = torch.ones((1, 1, 1), dtype=torch.int64)
    two = net([0, 100])
    assert [None if p is None else p.tolist() for p in source_parts(two, 1)] == [[0], [1]]
    assert emulate(two, x).spikes["hidden"][0, 0].tolist() == [1, 1]
    assert emulate(two, x).readout[0, 0, 0].item() == 0
    assert source_parts(net([0, 0]), 1) == [None]
    assert emulate(net([0, 0]), x).readout[0, 0, 0].item() == 64          # one part: 2 >> 1 = 1 -> << 6
    neg, _ = negative_exp_net()
    assert len(source_parts(neg, 1)) == 2 and len(source_parts(neg, 0, recurrent=True)) == 2


def test_a_delayed_tap_reaches_the_neuron_exactly_its_delay_later():
    # one input, taps at delays 0 and 3 with weights 100 and 50 (x 2^0 << 6): u = a_in << 6, du = 4095 clears it
    layer = LoihiLayer("lif", np.array([[100, 50]]), 0, 4095, 0, vth=100000, delays=(0, 3))
    net = LoihiNetwork(1, (layer,))
    assert layer.n_in == 1 and [d for d, _ in layer.taps()] == [0, 3]
    spikes = [1, 0, 0, 0, 0, 1, 0, 0, 1]
    u, _, _ = run_one(net, spikes)
    assert u == [6400, 0, 0, 3200, 0, 6400, 0, 0, 9600]
    # on Lava's grid the same, shifted by the depth; the last spike's delayed tap lands in the gap
    lay = StreamLayout(9, 1, 1, gap_steps=3)
    st = emulate_stream(net, lay.pack(np.array([spikes], dtype=np.uint8)[..., None])[None],
                        lay, record=("s", "v", "u"))
    assert st.current["lif"][0, 1:10, 0].tolist() == u and st.current["lif"][0, 10:, 0].tolist() == [0, 0, 3200]
    assert int(st.carry_spikes.sum()) == 0
    with pytest.raises(ConfigError, match="distinct and increasing"):
        LoihiLayer("lif", np.array([[100, 50]]), 0, 4095, 0, vth=10, delays=(3, 0))
    with pytest.raises(ShapeMismatchError):
        LoihiLayer("lif", np.array([[100, 50, 2]]), 0, 4095, 0, vth=10, delays=(0, 3))


def test_delayed_taps_carry_across_a_reset_unless_the_gap_covers_them():
    net, rng = delayed_net()
    x = random_spikes(rng, 4, 12, 12, 0.3)
    gap = quiet_gap(net, x, max_gap=40)
    assert gap is not None and gap >= 5                    # the hidden layer's taps reach 5 steps back
    stream_samples = np.concatenate([x, x[:1]])
    ref = emulate(net, stream_samples)
    for g, carried in ((0, True), (gap, False)):
        lay = StreamLayout(12, 5, 2, gap_steps=g)
        st = emulate_stream(net, lay.pack(stream_samples)[None], lay)
        assert st.independent == (not carried)
        got = st.per_sample()
        assert all(torch.equal(got.spikes[n], ref.spikes[n]) for n in net.layer_names) == (not carried)


def test_overflow_policies():
    # 700 inputs x 254 << 3 exceeds 16 bits
    big = LoihiNetwork(700, (LoihiLayer("l", np.full((2, 700), 254), 3, 0, 0, vth=100),))
    x = torch.ones((1, 2, 700), dtype=torch.int64)
    with pytest.raises(QuantizationError) as info:
        emulate(big, x)
    assert (info.value.layer, info.value.field) == ("l", "a_in")
    with pytest.warns(UserWarning, match="16 bits"):
        emulate(big, x, on_overflow="warn")
    r = emulate(big, x, on_overflow="ignore")
    assert r.overflow["l"]["a_in"] == 4
    # a readout driven past its maximum threshold
    ro = LoihiNetwork(1, (LoihiLayer("ro", np.array([[255]]), 7, 4095, 0, vth=None, spiking=False),))
    with pytest.raises(QuantizationError) as info:
        emulate(ro, torch.ones((1, 5, 1), dtype=torch.int64))
    assert (info.value.layer, info.value.field) == ("ro", "v")


def test_input_checks():
    net = single_neuron(**TRACE_A)
    with pytest.raises(ConfigError, match="0 or 1"):
        emulate(net, torch.full((1, 3, 1), 2))
    with pytest.raises(ShapeMismatchError):
        emulate(net, torch.zeros((1, 3, 2)))
    with pytest.raises(ConfigError):
        emulate(net, torch.zeros((1, 3, 1)), record=("x",))
    lay = StreamLayout(3, 1, 1)
    with pytest.raises(ShapeMismatchError):
        emulate_stream(net, torch.zeros((1, 3, 1)), lay)
    # numpy, bool and float 0/1 inputs are accepted
    for x in (np.ones((1, 2, 1), dtype=bool), np.ones((1, 2, 1), dtype=np.float32)):
        assert emulate(net, x).spikes["lif"].shape == (1, 2, 1)


def test_verify_identical_reports_the_first_difference():
    a = np.zeros((2, 10, 3), dtype=np.int64)
    b = a.copy()
    verify_identical("hidden", a, b)
    b[1, 6, 2] = 5
    with pytest.raises(VerificationError) as info:
        verify_identical("hidden", a, b)
    assert (info.value.sample, info.value.step, info.value.neuron, info.value.got) == (1, 6, 2, 5)
    lay = StreamLayout(sample_steps=3, n_samples=2, depth=1, gap_steps=1)   # R = 4; window(1, 1) = 5..7
    c = np.zeros((1, lay.total_steps, 3), dtype=np.int64)
    d = c.copy()
    d[0, 6, 1] = -1
    with pytest.raises(VerificationError) as info:
        verify_identical("hidden", c, d, layout=lay, depth=1)
    assert (info.value.sample, info.value.step, info.value.neuron) == (1, 1, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_equals_cpu():
    net, rng = recurrent_net(quiet=False)
    x = random_spikes(rng, 3, 10, 20, 0.3)
    cpu, gpu = emulate(net, x), emulate(net, x, device="cuda")
    for name in net.layer_names:
        assert torch.equal(cpu.spikes[name], gpu.spikes[name].cpu())
        assert torch.equal(cpu.voltage[name], gpu.voltage[name].cpu())
