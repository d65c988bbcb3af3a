"""The pr-v2 neuron of Loihi 2 (gates computed, graded outputs): its step against a hand trace,
the integer network's checks, and its emulator's stream timing."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, QuantizationError
from spikedeploy.quant.emulator import pack_samples
from spikedeploy.quant.loihi_network import LoihiLayer
from spikedeploy.quant.loihi2_network import Loihi2Network
from spikedeploy.quant.pr_graded import PrGradedLayer, pr_graded_step
from spikedeploy.quant.loihi2_emulator import emulate_loihi2, emulate_loihi2_stream

# One level = 2^4 = 16 V units, 6-bit payloads (|q| <= 31), levels <= 1 dropped. Neuron 0 has no
# biases; neuron 1 has b_f = 1000, b_c = -20. Worked by hand from the module docstring:
#   t0: f = 2048, c = 100: i = 2048 * 100 >> 12 = 50, v = 50, |v| >> 4 = 3: q = 3, v = 2
#       (neuron 1: f = 3048, c = 80: i = 1048 * 80 >> 12 = 20, v = 20: level 1 dropped, q = 0)
#   t1: f = clip(4096) = 4096, c = ReLU(-30) = 0: i = 50, v = 52: q = 3, v = 4
#   t2: f = clip(-952) = 0, c = 40: i = 40, v = 44: q = 2, v = 12
#   t3: f = 1024, c = 7: i = (40960 + 21504) >> 12 = 15, v = 27: level 1 dropped, q = 0, v = 27
#   t4: f = 2048, c = 1000: i = 2078720 >> 12 = 507, v = 534: 33 levels -> q_max 31, v = 38
A_F = [0, 2048, -3000, -1024, 0]
A_C = [100, -30, 40, 7, 1000]
HAND = {"i": [50, 50, 40, 15, 507], "v": [2, 4, 12, 27, 38], "q": [3, 3, 2, 0, 31]}


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_the_neuron_step_follows_the_hand_trace(lib):
    p = SimpleNamespace(bf=np.array([0, 1000]), bc=np.array([0, -20]), level_exp=4, q_max=31, threshold=1)
    arr = (lambda a: torch.tensor(a, dtype=torch.int64)) if lib == "torch" else (lambda a: np.array(a, np.int64))
    i, v = arr([0, 0]), arr([0, 0])
    got = {"i": [], "v": [], "q": []}
    for t, (a_f, a_c) in enumerate(zip(A_F, A_C)):
        i, v, q = pr_graded_step(i, v, arr([a_f, a_f]), arr([a_c, a_c]), p)
        for key, val in (("i", i), ("v", v), ("q", q)):
            got[key].append(int(val[0]))
        if t == 0:
            assert (int(i[1]), int(v[1]), int(q[1])) == (20, 20, 0)
    assert got == HAND


def _even(rng, shape, lo=-60, hi=60):
    return rng.integers(lo // 2, hi // 2, size=shape) * 2


def small_graded_net(seed=0, chip="loihi2", bits=6):
    """700-free toy: 6 inputs -> 5 -> 4 pr-v2 neurons (graded) -> 3 readout neurons."""
    rng = np.random.default_rng(seed)

    def layer(name, n_in, n, exps, level_exp, threshold):
        mats = {k: _even(rng, (n, n_in if k.startswith("w") else n)) for k in ("wf", "wc", "uf", "uc")}
        return PrGradedLayer(name, **mats, **dict(zip(("wf_exp", "wc_exp", "uf_exp", "uc_exp"), exps)),
                             bf=rng.integers(-500, 500, n), bc=rng.integers(-50, 200, n), level_exp=level_exp,
                             bits=bits, threshold=threshold)

    readout = LoihiLayer("readout", weight=_even(rng, (3, 4)), weight_exp=0, du=4095, dv=[200, 200, 900], vth=None,
                         bias_mant=[0, 5, -5], spiking=False)
    return Loihi2Network(6, (layer("h0", 6, 5, (4, 3, 2, 1), 6, 1), layer("h1", 5, 4, (1, 0, 0, -1), 5, 0),
                               readout), chip=chip)


def frames(n=5, t=20, seed=1):
    return (np.random.default_rng(seed).random((n, t, 6)) < 0.4).astype(np.uint8)


def test_stream_windows_equal_independent_runs_without_a_gap():
    net = small_graded_net()
    x = frames()
    payloads, volt, overflow, _ = emulate_loihi2(net, x)
    assert overflow == {"h0": 0, "h1": 0, "readout": 0}
    assert all(int((p != 0).sum()) > 10 for p in payloads.values())        # the layers do emit
    stream, layout = pack_samples(x, 2, net.latency, 0)
    pay_s, volt_s = emulate_loihi2_stream(net, stream, layout).per_sample()
    for name in payloads:
        assert torch.equal(pay_s[name][:5], payloads[name])
    assert torch.equal(volt_s[:5], volt)


def test_the_integer_network_round_trips_and_names_bad_fields():
    net = small_graded_net()
    back = Loihi2Network.from_dict(net.to_dict())
    for a, b in zip(net.hidden, back.hidden):
        assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("wf", "wc", "uf", "uc", "bf", "bc"))
        assert (a.level_exp, a.bits, a.threshold) == (b.level_exp, b.bits, b.threshold)
    with pytest.raises(QuantizationError, match=r"h0.*bits.*loihi1 carries binary spikes only"):
        small_graded_net(chip="loihi1")
    with pytest.raises(QuantizationError, match=r"h0.*bits.*outside payload widths \[2, 24\]"):
        small_graded_net(bits=33)
    with pytest.raises(QuantizationError, match=r"h0.*wf.*grid"):
        PrGradedLayer("h0", wf=[[3, -3]], wf_exp=0, wc=[[2, 2]], wc_exp=0, uf=[[2]], uf_exp=0, uc=[[2]], uc_exp=0,
                      bf=0, bc=0, level_exp=4, bits=6, threshold=0)
    with pytest.raises(ConfigError, match="binary spikes"):
        emulate_loihi2(net, frames() * 2)
