"""The hardware-friendly GPN of Loihi 2: its integer step against a hand trace, its layer's checks,
and a network of it in the emulator (stream windows = independent runs)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from spikedeploy.errors import QuantizationError, ShapeMismatchError
from spikedeploy.quant.emulator import pack_samples
from spikedeploy.quant.gpn_graded import GpnGradedLayer, gpn_graded_step
from spikedeploy.quant.loihi2_emulator import emulate_loihi2, emulate_loihi2_stream
from spikedeploy.quant.loihi2_network import Loihi2Network
from spikedeploy.quant.loihi_network import LoihiLayer

# G = 12 (gates Q12, bypass Q10), P = 12 (1.0 = 4096), k = 4, 8-bit broadcast (|p| <= 127), no biases.
# Worked by hand from quant/gpn_graded.py's docstring:
#   t0: x 1000, a (f, i, b, th) = (0, 1024, 512, -1024): f 2048, i 3072, th 1024, b 512;
#       h = 3072 * 1000 >> 12 = 750 < 1024: no spike; v = 750 + (512 << 2) = 2798; p = 2798 >> 4 = 174 -> 127
#   t1: x 2000, a = (4096, -3000, -2000, 0): f 4096, i 0, b -1024, th 2048;
#       h = 4096 * 2798 >> 12 = 2798 >= 2048: spike; v = 0 + (-1024 << 2) = -4096; p = -256 -> -127
#   t2: x -100, a = (-1000, 2048, 0, -4096): f 1048, i 4096, th 0;
#       h = (1048 * -4096 + 4096 * -100) >> 12 = -1148 < 0: no spike; v = -1148; p = floor(-1148 / 16) = -72
X = [1000, 2000, -100]
A = [(0, 1024, 512, -1024), (4096, -3000, -2000, 0), (-1000, 2048, 0, -4096)]
HAND = {"v": [2798, -4096, -1148], "s": [0, 1, 0], "p": [127, -127, -72]}


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_the_gpn_step_follows_the_hand_trace(lib):
    p = SimpleNamespace(c_x=np.zeros(1, np.int64), gate_b=np.zeros((4, 1), np.int64), v_exp=12, v_shift=4,
                        v_bits=8, gate_frac=12)
    arr = (lambda a: torch.tensor(a, dtype=torch.int64)) if lib == "torch" else (lambda a: np.array(a, np.int64))
    v = arr([0])
    got = {"v": [], "s": [], "p": []}
    for x, a in zip(X, A):
        v, s, pay = gpn_graded_step(v, arr([x]), arr([[g] for g in a]), p)
        for key, val in (("v", v), ("s", s), ("p", pay)):
            got[key].append(int(val[0]))
    assert got == HAND


def _grid(rng, shape, lim=50):
    return rng.integers(-lim // 2, lim // 2, size=shape) * 2


def small_gpn_net(seed=0, v_bits=10, chip="loihi2"):
    """6 inputs -> 5 hardware-friendly GPN neurons -> 3 readout neurons (mean readout)."""
    rng = np.random.default_rng(seed)
    layer = GpnGradedLayer("g0", w_in=_grid(rng, (5, 6)), w_in_exp=4, c_x=rng.integers(-200, 200, 5),
                           gate_w=_grid(rng, (4, 5, 6)), gate_w_exp=(3, 3, 3, 3), gate_u=_grid(rng, (4, 5, 5)),
                           gate_u_exp=(0, -1, 0, -1), gate_b=rng.integers(-500, 500, (4, 5)), v_exp=10, v_shift=3,
                           v_bits=v_bits, gate_frac=10)
    readout = LoihiLayer("readout", weight=_grid(rng, (3, 5)), weight_exp=2, du=4095, dv=0, vth=None,
                         bias_mant=[1, 0, -1], spiking=False)
    return Loihi2Network(6, (layer, readout), chip=chip)


def frames(n=6, t=18, seed=1):
    return (np.random.default_rng(seed).random((n, t, 6)) < 0.4).astype(np.uint8)


def test_a_gpn_network_streams_without_a_gap_and_broadcasts_its_state():
    net = small_gpn_net()
    x = frames()
    spikes, volt, overflow, broadcast = emulate_loihi2(net, x)
    assert sum(overflow.values()) == 0
    s, p = spikes["g0"], broadcast["g0"]
    assert set(np.unique(s.numpy())) == {0, 1} and int(s.sum()) > 10
    assert int((p.abs() > 1).sum()) > 20 and int(p.abs().max()) <= 511          # graded, inside 10 bits
    stream, layout = pack_samples(x, 2, net.latency, 0)
    run = emulate_loihi2_stream(net, stream, layout)
    s2, v2 = run.per_sample()
    assert torch.equal(s2["g0"][:6], s) and torch.equal(v2[:6], volt)
    back = Loihi2Network.from_dict(net.to_dict())
    assert torch.equal(emulate_loihi2(back, x).voltage, volt)


def test_the_layer_names_bad_fields():
    with pytest.raises(QuantizationError, match=r"g0.*bits.*loihi1 carries binary spikes only"):
        small_gpn_net(chip="loihi1")
    good = small_gpn_net().hidden[0]
    with pytest.raises(ShapeMismatchError, match="gate_u"):
        GpnGradedLayer("g0", w_in=good.w_in, w_in_exp=0, c_x=0, gate_w=good.gate_w, gate_w_exp=(0,) * 4,
                       gate_u=good.gate_u[:, :, :4], gate_u_exp=(0,) * 4, gate_b=good.gate_b, v_exp=10, v_shift=0)
    with pytest.raises(QuantizationError, match=r"g0.*v_exp.*state fractions"):
        GpnGradedLayer("g0", w_in=good.w_in, w_in_exp=0, c_x=0, gate_w=good.gate_w, gate_w_exp=(0,) * 4,
                       gate_u=good.gate_u, gate_u_exp=(0,) * 4, gate_b=good.gate_b, v_exp=8, v_shift=0,
                       gate_frac=12)
