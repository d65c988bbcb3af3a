"""Fixed-point reference: hand-computed goldens for every operation, numpy and torch alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikedeploy.quant import fixed_point as fx


def both(values):
    """The same integers as a numpy array and an int64 torch tensor."""
    return np.array(values, dtype=np.int64), torch.tensor(values, dtype=torch.int64)


def as_list(x):
    return x.tolist()


def test_constants_come_from_the_loihi2_profile():
    spec = fx.default_spec()
    assert spec.decay_shift == 12 and spec.threshold_shift == 6 and spec.state_bits == 24


@pytest.mark.parametrize("kind", [0, 1])
def test_shift_toward_zero_vs_floor(kind):
    x = both([-9, -8, -7, -1, 0, 1, 7, 8, 9])[kind]
    # toward zero: -9/4 = -2.25 -> -2 ; -7/4 -> -1 ; -1/4 -> 0
    assert as_list(fx.shift_toward_zero(x, 2)) == [-2, -2, -1, 0, 0, 0, 1, 2, 2]
    # floor: -9/4 -> -3 ; -7/4 -> -2 ; -1/4 -> -1
    assert as_list(fx.shift_right_floor(x, 2)) == [-3, -2, -2, -1, 0, 0, 1, 2, 2]
    assert as_list(fx.shift_left(x, 3)) == [-72, -64, -56, -8, 0, 8, 56, 64, 72]


def test_scalars_stay_scalars_and_floats_are_refused():
    assert fx.shift_toward_zero(-7, 1) == -3
    assert isinstance(fx.shift_toward_zero(-7, 1), np.integer)
    with pytest.raises(TypeError):
        fx.shift_toward_zero(np.array([1.5]), 1)
    with pytest.raises(TypeError):
        fx.wrap(torch.tensor([1.0]), 8)
    with pytest.raises(ValueError):
        fx.shift_left(np.array([1]), -1)


@pytest.mark.parametrize("kind", [0, 1])
def test_scale_pow2_is_left_shift_or_floor(kind):
    x = both([-5, -4, 3, 5])[kind]
    assert as_list(fx.scale_pow2(x, 2)) == [-20, -16, 12, 20]
    assert as_list(fx.scale_pow2(x, 0)) == [-5, -4, 3, 5]
    assert as_list(fx.scale_pow2(x, -1)) == [-3, -2, 1, 2]     # floor, as Dense's right_shift


@pytest.mark.parametrize("kind", [0, 1])
def test_wrap_two_complement_boundaries(kind):
    x = both([127, 128, 129, -128, -129, 255, 256, -256, 383])[kind]
    assert as_list(fx.wrap(x, 8)) == [127, -128, -127, -128, 127, -1, 0, 0, 127]


@pytest.mark.parametrize("kind", [0, 1])
def test_wrap_state_is_lavas_half_open_range(kind):
    m = 2 ** 23
    x = both([m - 1, m, m + 1, m + 5, -m + 1, -m, -m - 1, -m - 5, 0])[kind]
    # (-2^23, 2^23]: +2^23 stays, -2^23 becomes +2^23, 2^23 + 1 -> -2^23 + 1
    assert as_list(fx.wrap_state(x, 24)) == [m - 1, m, -m + 1, -m + 5, -m + 1, m, m - 1, m - 5, 0]
    # two's complement differs exactly at the boundaries
    assert as_list(fx.wrap(x, 24)) == [m - 1, -m, -m + 1, -m + 5, -m + 1, -m, m - 1, m - 5, 0]


@pytest.mark.parametrize("kind", [0, 1])
def test_saturate_and_clip_symmetric(kind):
    x = both([-200, -128, -127, 0, 127, 128, 200])[kind]
    assert as_list(fx.saturate(x, 8)) == [-128, -128, -127, 0, 127, 127, 127]
    assert as_list(fx.clip_symmetric(x, 8)) == [-127, -127, -127, 0, 127, 127, 127]
    v = both([2 ** 23, 2 ** 23 - 1, -2 ** 23])[kind]
    assert as_list(fx.clip_symmetric(v, 24)) == [2 ** 23 - 1, 2 ** 23 - 1, -(2 ** 23 - 1)]


@pytest.mark.parametrize("kind", [0, 1])
def test_decays_round_toward_zero(kind):
    u = both([-192, 192, 1000, -1, 4096])[kind]
    # du = 1000 -> factor 4096 - 1001 = 3095
    # -192 * 3095 = -594240 ; 594240 / 4096 = 145.08 -> -145 (floor would give -146)
    # 1000 * 3095 = 3095000 / 4096 = 755.6 -> 755 ; -1 -> 0 ; 4096 -> 3095
    assert as_list(fx.current_decay(u, 1000)) == [-145, 145, 755, 0, 3095]
    # dv = 1000 -> factor 3096: -192*3096/4096 = -145.1 -> -145 ; 1000*3096/4096 = 755.9 -> 755
    assert as_list(fx.voltage_decay(u, 1000)) == [-145, 145, 755, 0, 3096]
    # du = 4095 clears the current; dv = 0 keeps the voltage
    assert as_list(fx.current_decay(u, 4095)) == [0, 0, 0, 0, 0]
    assert as_list(fx.voltage_decay(u, 0)) == [-192, 192, 1000, -1, 4096]
    # per-neuron decays broadcast
    assert as_list(fx.current_decay(both([4096, 4096])[kind], both([0, 2047])[kind])) == [4095, 2048]


def test_bias_threshold_and_activation_scaling():
    assert fx.effective_bias(np.int64(-3), 2) == -12
    assert fx.effective_bias(np.int64(-3), -1) == -2  # floor
    assert fx.effective_threshold(np.int64(131071)) == 131071 * 64
    assert fx.activation_to_current(np.int64(-5)) == -320


def test_sign_mode_and_weight_grid():
    assert fx.sign_mode(np.array([[0, 3], [1, 0]])) == "excitatory"
    assert fx.sign_mode(np.zeros((2, 2), dtype=int)) == "excitatory"
    assert fx.sign_mode(np.array([[0, -3]])) == "inhibitory"
    assert fx.sign_mode(torch.tensor([[2, -2]])) == "mixed"
    assert fx.weight_grid("mixed", 8) == (-256, 254, 2)
    assert fx.weight_grid("excitatory", 8) == (0, 255, 1)
    assert fx.weight_grid("inhibitory", 8) == (-255, 0, 1)
    assert fx.weight_grid("mixed", 6) == (-256, 248, 8)
    assert fx.weight_grid("inhibitory", 6) == (-252, 0, 4)
    with pytest.raises(ValueError):
        fx.weight_grid("mixed", 9)


def test_dense_effective_weights_mirror_lavas_clip_and_truncate():
    w = np.array([[-300, -256, -3, -1, 0, 1, 3, 254, 255, 300]])
    # mixed: clip to [-256, 255], then drop 1 bit with an arithmetic shift (floor to even)
    assert fx.dense_effective_weights(w).tolist() == [[-256, -256, -4, -2, 0, 0, 2, 254, 254, 254]]
    # excitatory 8 bit: clip to [0, 255], no bits dropped
    assert fx.dense_effective_weights(np.array([[0, 3, 255, 300]])).tolist() == [[0, 3, 255, 255]]
    # inhibitory 7 bit: negate, clip [0, 255], drop 1 bit (floor), negate: -3 -> -2, -300 -> -254
    assert fx.dense_effective_weights(np.array([[0, -3, -300]]), 7).tolist() == [[0, -2, -254]]


def test_dense_effective_weights_agree_with_lava_weightutils():
    weightutils = pytest.importorskip("lava.utils.weightutils", reason="lava not installed")
    rng = np.random.default_rng(0)
    for mode, lo, hi in (("mixed", -300, 300), ("excitatory", 0, 300), ("inhibitory", -300, 0)):
        w = rng.integers(lo, hi + 1, (20, 30))
        lava_mode = {"mixed": weightutils.SignMode.MIXED, "excitatory": weightutils.SignMode.EXCITATORY,
                     "inhibitory": weightutils.SignMode.INHIBITORY}[mode]
        assert fx.sign_mode(w) == mode
        for bits in (8, 6, 3):
            ref = weightutils.truncate_weights(weightutils.clip_weights(w, lava_mode, num_bits=8),
                                               lava_mode, bits)
            np.testing.assert_array_equal(fx.dense_effective_weights(w, bits), ref)
