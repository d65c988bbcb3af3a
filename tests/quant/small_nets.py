"""Small integer networks shared by the emulator and Lava tests (plain builders, no tests here)."""

from __future__ import annotations

import numpy as np

from spikedeploy.netspec import LayerSpec, NetworkSpec
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

# Hand-traced single LIF neuron (tests/quant/test_emulator.py writes the traces out).
TRACE_A = dict(weight=[[100]], weight_exp=0, du=1023, dv=2048, vth=150, bias_mant=10, bias_exp=1)
TRACE_A_INPUT = [1, 1, 0, 0, 1, 0]
# u = 0.75 u + 6400 x ; v = 0.5 v + u + 20 ; spike when v > 150 << 6 = 9600
TRACE_A_U = [6400, 11200, 8400, 6300, 11125, 8343]          # 11125 * 3072 / 4096 = 8343.75 -> 8343
TRACE_A_V = [6420, 0, 8420, 0, 0, 8363]
TRACE_A_S = [0, 1, 0, 1, 1, 0]


def single_neuron(weight, weight_exp, du, dv, vth, bias_mant=0, bias_exp=0) -> LoihiNetwork:
    layer = LoihiLayer("lif", np.array(weight), weight_exp, du, dv, vth=vth, bias_mant=bias_mant,
                       bias_exp=bias_exp)
    return LoihiNetwork(1, (layer,))


def recurrent_net(seed: int = 0, *, quiet: bool = True) -> tuple[LoihiNetwork, np.random.Generator]:
    """20 -> 16 recurrent LIF (two decay groups) -> 5 non-spiking readout.

    ``quiet=True``: fast decays, non-positive biases, mostly inhibitory recurrence, so
    a short gap lets the hidden layer fall silent between samples. ``quiet=False``:
    positive biases on some neurons, which fire with no input at all (no gap helps).
    """
    rng = np.random.default_rng(seed)
    n_in, n_h, n_o = 20, 16, 5
    grp = np.arange(n_h) % 2 == 0
    du = np.where(grp, 1500, 3000)
    dv = np.where(grp, 800, 1600)
    vth = np.where(grp, 1200, 1000)
    bias = rng.integers(-40, 1, n_h)
    if not quiet:
        bias[:4] = 4000           # 4000 << 5 = 128000 per step > 1200 << 6: fires every step on its own
    hidden = LoihiLayer("hidden", rng.integers(-10, 40, (n_h, n_in)) * 2, 2, du, dv, vth=vth,
                        bias_mant=bias, bias_exp=1 if quiet else 5,
                        rec_weight=rng.integers(-40, 25, (n_h, n_h)) * 2,
                        rec_weight_exp=1)
    out = LoihiLayer("out", rng.integers(-60, 61, (n_o, n_h)) * 2, 1, 4095, 0, vth=None, spiking=False)
    return LoihiNetwork(n_in, (hidden, out), metadata={"test": "recurrent_net", "seed": seed}), rng


def negative_exp_net(seed: int = 1) -> tuple[LoihiNetwork, np.random.Generator]:
    """Negative exponents on a two-group recurrent layer and on the readout it feeds:
    Lava floors each group's partial sum separately."""
    rng = np.random.default_rng(seed)
    n_in, n_h, n_o = 20, 16, 5
    grp = np.arange(n_h) % 3 == 0
    hidden = LoihiLayer("hidden", rng.integers(-60, 127, (n_h, n_in)) * 2, 1,
                        np.where(grp, 300, 1000), np.where(grp, 200, 500), vth=1500,
                        bias_mant=rng.integers(-50, 10, n_h), bias_exp=2,
                        rec_weight=rng.integers(-91, 60, (n_h, n_h)) * 2, rec_weight_exp=-3)
    out = LoihiLayer("out", rng.integers(-127, 127, (n_o, n_h)) * 2, -2, 4095, 0, vth=None, spiking=False)
    return LoihiNetwork(n_in, (hidden, out)), rng


def random_spikes(rng: np.random.Generator, n: int, steps: int, channels: int, rate: float) -> np.ndarray:
    return (rng.random((n, steps, channels)) < rate).astype(np.uint8)


def delayed_net(seed: int = 2, *, exp: int = 1) -> tuple[LoihiNetwork, np.random.Generator]:
    """12 inputs -> 10 LIF (two decay groups, recurrent) through taps at delays 0, 2 and 5 ->
    4 non-spiking readout through taps at delays 0 and 3 (``spikedeploy.delays``). ``exp < 0``
    floors each tap's (and group's) partial sum separately in Lava."""
    rng = np.random.default_rng(seed)
    n_in, n_h, n_o = 12, 10, 4
    grp = np.arange(n_h) % 2 == 0
    hidden = LoihiLayer("hidden", rng.integers(-30, 90, (n_h, 3 * n_in)) * 2, exp,
                        np.where(grp, 1500, 3000), np.where(grp, 800, 1600), vth=np.where(grp, 1200, 1000),
                        bias_mant=rng.integers(-40, 1, n_h), bias_exp=1,
                        rec_weight=rng.integers(-40, 20, (n_h, n_h)) * 2, rec_weight_exp=1, delays=(0, 2, 5))
    out = LoihiLayer("out", rng.integers(-60, 61, (n_o, 2 * n_h)) * 2, min(exp, 1), 4095, 0, vth=None,
                     spiking=False, delays=(0, 3))
    return LoihiNetwork(n_in, (hidden, out), metadata={"test": "delayed_net", "seed": seed}), rng


def two_layer_spec(rng: np.random.Generator, hidden: int, vth: float) -> NetworkSpec:
    """A float 3 -> ``hidden`` LIF -> 2 readout ("max") spec with normal weights drawn from ``rng``
    (the graded-input tests feed it real-valued inputs)."""
    return NetworkSpec(3, (LayerSpec("h", rng.normal(size=(hidden, 3)), du=1, dv=0.2, vth=vth),
                           LayerSpec("o", rng.normal(size=(2, hidden)), du=1, dv=0.1, vth=None)), readout="max")

