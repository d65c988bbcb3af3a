"""Surrogate gradients: forward is the step, backward is the stated derivative."""

import math

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.models.surrogate import ATan, FastSigmoid, Sigmoid, make_surrogate

X = [-1.0, -0.3, 0.0, 0.25, 2.0]


def grads(sg, strict=True):
    x = torch.tensor(X, requires_grad=True)
    y = sg.spike(x, strict=strict)
    y.sum().backward()
    return y.tolist(), x.grad.tolist()


def test_atan_alpha_2_gradient():
    y, g = grads(ATan())
    assert y == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert g == pytest.approx([1 / (1 + (math.pi * x) ** 2) for x in X], rel=1e-6)
    assert g[2] == 1.0  # peak (alpha / 2) at the threshold


def test_atan_other_alpha():
    _, g = grads(ATan(scale=4.0))
    assert g == pytest.approx([2 / (1 + (2 * math.pi * x) ** 2) for x in X], rel=1e-6)


def test_fast_sigmoid_gradient():
    _, g = grads(FastSigmoid(scale=10.0))
    assert g == pytest.approx([1 / (1 + 10 * abs(x)) ** 2 for x in X], rel=1e-6)


def test_sigmoid_gradient():
    _, g = grads(Sigmoid(scale=10.0))
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert g == pytest.approx([10 * sig(10 * x) * (1 - sig(10 * x)) for x in X], rel=1e-5)


def test_strict_and_non_strict_at_zero():
    assert grads(ATan(), strict=True)[0][2] == 0.0
    assert grads(ATan(), strict=False)[0][2] == 1.0


def test_make_surrogate_by_name():
    assert make_surrogate("atan") == ATan(2.0)
    assert make_surrogate("fast-sigmoid", 5) == FastSigmoid(5.0)
    with pytest.raises(ConfigError) as err:
        make_surrogate("relu")
    assert "atan" in str(err.value) and "fast-sigmoid" in str(err.value)
    with pytest.raises(ConfigError):
        make_surrogate("atan", -1.0)
