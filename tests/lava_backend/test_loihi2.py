"""Graded spikes between layers in Lava: the emulator's graded Dense against Lava's on a hand-set
case, and the pr-v2 network of Loihi 2 bit-exact in Lava (Dense and Sparse connections)."""

import importlib.util

import numpy as np
import pytest
import torch

from spikedeploy.errors import VerificationError
from spikedeploy.quant.emulator import _dense
from spikedeploy.quant.loihi2_emulator import emulate_loihi2

from ..quant.test_gpn_graded import frames as gpn_frames
from ..quant.test_gpn_graded import small_gpn_net
from ..quant.test_pr_graded import frames, small_graded_net

lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


@pytest.mark.lava
@lava
def test_the_emulators_graded_dense_equals_lavas_on_a_hand_set_case():
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    w = np.array([[254, -256, 6], [-2, 100, -50]])
    payloads = np.array([[31, -32, 7], [-1, 0, 1], [5, 5, -5], [0, 0, 0]]).T      # [in, steps], 6-bit signed
    # by hand, weight_exp = -3 (floor of the sum / 8): step 0: [254*31 + 256*32 + 42, -62 - 3200 - 350] / 8
    hand = np.array([[(7874 + 8192 + 42) >> 3, (-62 - 3200 - 350) >> 3], [(-254 + 6) >> 3, (2 - 50) >> 3],
                     [(1270 - 1280 - 30) >> 3, (-10 + 500 + 250) >> 3], [0, 0]])
    assert hand.tolist() == [[2013, -452], [-31, -6], [-5, 92], [0, 0]]
    src, sink = Source(data=payloads), Sink(shape=(2,), buffer=5)
    dense = Dense(weights=w, weight_exp=-3, num_weight_bits=8, num_message_bits=6)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(sink.a_in)
    src.run(condition=RunSteps(num_steps=5), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    got = sink.data.get().T[1:].astype(np.int64)                  # Dense sends step t's sum at t + 1
    src.stop()
    parts = [(None, torch.as_tensor(w.T, dtype=torch.float64))]
    mine = np.stack([_dense(torch.as_tensor(p)[None], parts, -3)[0].numpy() for p in payloads.T])
    assert got.tolist() == hand.tolist() == mine.tolist()


@pytest.mark.lava
@lava
@pytest.mark.parametrize("replicas", [2, 10])          # Dense up to 8 copies, Sparse above
def test_the_pr_v2_network_of_loihi2_is_bit_exact_in_lava(replicas):
    from spikedeploy.lava_backend.loihi2 import run_loihi2, verify_loihi2

    net = small_graded_net()
    x = frames(n=12, t=15)
    run = run_loihi2(net, x, replicas=replicas)
    verify_loihi2(run)                                   # every payload and readout voltage, step for step
    payloads, volt, _, _ = emulate_loihi2(net, x)
    assert np.array_equal(run.readout(), volt.numpy())
    assert int((np.abs(run.payloads["h1"]) > 1).sum()) > 20     # multi-level payloads crossed the graded Dense
    run.payloads["h1"][0, 5, 0] += 1
    with pytest.raises(VerificationError, match="h1"):
        verify_loihi2(run)


@pytest.mark.lava
@lava
@pytest.mark.parametrize("replicas", [1, 9])
def test_the_hardware_friendly_gpn_of_loihi2_is_bit_exact_in_lava(replicas):
    from spikedeploy.lava_backend.loihi2 import run_loihi2, verify_loihi2

    net = small_gpn_net()
    x = gpn_frames(n=9, t=14)
    run = run_loihi2(net, x, replicas=replicas)
    verify_loihi2(run)                         # every spike and readout voltage, step for step
    spikes, volt, _, broadcast = emulate_loihi2(net, x)
    assert np.array_equal(run.readout(), volt.numpy()) and int(spikes["g0"].sum()) > 10
    assert int((broadcast["g0"].abs() > 1).sum()) > 20       # the gates read a graded state
