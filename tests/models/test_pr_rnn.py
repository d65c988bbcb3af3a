"""Ponghiran & Roy v2: the multi-bit quantiser Q, its range tracker, hand-computed traces."""

import math

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.models.neurons.pr_rnn import PRv2, RangeTracker, quantize


def test_quantizer_levels_threshold_and_straight_through_gradient():
    tr = RangeTracker(n_bits=3, momentum=0.1)
    tr.observe(torch.tensor([-0.5, 2.0]))
    assert tr.min.item() == pytest.approx(-0.5) and tr.max.item() == pytest.approx(2.0)  # bias-corrected
    scale = tr.scale()
    assert scale.item() == pytest.approx(4 * (1 - 1e-4) / 2)  # n = 2^(3-1) = 4 levels per max_abs
    v = torch.tensor([0.3, 0.6, -1.2, 2.5, -3.0], requires_grad=True)
    y = quantize(v, scale, tr.max_abs(), threshold=1)
    # clamp to +-2, times 1.9998: .59994, 1.19988, -2.39976, 3.9996, -3.9996 -> trunc 0, 1, -2, 3, -3;
    # |q| <= 1 -> 0
    s = 1.9998
    assert y.tolist() == pytest.approx([0.0, 0.0, -2 / s, 3 / s, -3 / s], rel=1e-6)
    y.sum().backward()
    assert v.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]  # straight through inside the range only


def test_range_tracker_bias_correction():
    tr = RangeTracker(momentum=0.1)
    tr.observe(torch.tensor([0.0, 1.0]))
    tr.observe(torch.tensor([0.0, 3.0]))
    assert tr.max.item() == pytest.approx((0.09 * 1 + 0.1 * 3) / (1 - 0.81))
    assert RangeTracker().scale().item() == pytest.approx(1 - 1e-4)  # no range yet


def _pop(n_bits=3, threshold=0, max_abs=1.0):
    pop = PRv2(1, n_bits=n_bits, threshold=threshold, batch_norm=False).eval()
    with torch.no_grad():
        pop.recurrent.weight.zero_()
        pop.quantizer.min.fill_(-max_abs)
        pop.quantizer.max.fill_(max_abs)
    return pop


def test_trace_by_hand():
    # Gate input [a_f, a_c] = [0, 1] each step, U = 0: F = .5, C = 1. 3 bits, range 1: scale s = 3.9996.
    # t1: I = .5;  V = .5;   q = trunc(.5 s) = 1 -> Y = 1/s;  V = .5 - 1/s
    # t2: I = .75; V = 1.25 - 1/s;  q = trunc(V s) = trunc(4.9995 - 1) = 3 -> Y = 3/s; V -= 3/s
    # t3: I = .875; V = 2.125 - 4/s = 1.12490.. > 1 -> clamped: q = trunc(s) = 3 -> Y = 3/s; V -= 3/s
    pop = _pop()
    s = 4 * (1 - 1e-4)
    st = pop.initial_state(1)
    ys, vs, i_s = [], [], []
    for _ in range(3):
        y, st = pop.step(torch.tensor([[0.0, 1.0]]), st)
        ys.append(y.item())
        vs.append(st.v.item())
        i_s.append(st.i.item())
    assert i_s == pytest.approx([0.5, 0.75, 0.875])
    assert ys == pytest.approx([1 / s, 3 / s, 3 / s], rel=1e-6)
    assert vs == pytest.approx([0.5 - 1 / s, 1.25 - 4 / s, 2.125 - 7 / s], rel=1e-5)


def _scalar_reference(x_seq, u_f, u_c, scale, max_abs, thr):
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    i = v = y = 0.0
    out = []
    for a_f, a_c in x_seq:
        f = sig(a_f + u_f * y)
        c = max(a_c + u_c * y, 0.0)
        i = f * i + (1 - f) * c
        v = v + i
        q = math.trunc(min(max(v, -max_abs), max_abs) * scale)
        y = 0.0 if abs(q) <= thr else q / scale
        v = v - y
        out.append((y, v, min(max(v + y, -max_abs), max_abs) * scale))
    return out


def test_recurrent_gates_match_scalar_reference():
    pop = _pop(n_bits=4, threshold=1, max_abs=2.0)
    with torch.no_grad():
        pop.recurrent.weight.copy_(torch.tensor([[-1.5], [0.8]]))  # U: Y_{t-1} -> [a_f, a_c]
    x_seq = [(0.2, 1.0), (-0.5, 2.0), (1.0, -0.3), (0.0, 0.7), (0.3, 1.5), (-1.0, 0.2), (0.5, 0.9)]
    scale = 8 * (1 - 1e-4) / 2.0
    ref = _scalar_reference(x_seq, -1.5, 0.8, scale, 2.0, 1)
    assert all(abs(z - round(z)) > 1e-4 for _, _, z in ref)  # no value near a level edge
    assert len({y for y, _, _ in ref}) > 2                     # graded outputs, not all equal
    st = pop.initial_state(1)
    for (a_f, a_c), (y_ref, v_ref, _) in zip(x_seq, ref):
        y, st = pop.step(torch.tensor([[a_f, a_c]]), st)
        assert y.item() == pytest.approx(y_ref, abs=1e-6)
        assert st.v.item() == pytest.approx(v_ref, abs=1e-5)
    ys, _ = pop(torch.tensor(x_seq).view(1, len(x_seq), 2))  # the module's own loop
    assert ys.flatten().tolist() == pytest.approx([r[0] for r in ref], abs=1e-6)


def test_network_with_pr_v2_layers():
    torch.manual_seed(0)
    net = build_network(NetworkConfig(input_size=6, hidden=(5, 4), n_classes=3, neuron="pr-v2",
                                      quant_bits=4, quant_threshold=1))
    layer = net.layers[0]
    assert layer.synapse.weight.shape == (10, 6) and layer.recurrent.weight.shape == (10, 5)
    x = (torch.rand(4, 12, 6) < 0.5).float()
    net.train()
    logits, outs = net(x, return_spikes=True)        # updates BN statistics and quantiser ranges
    logits.sum().backward()
    assert layer.synapse.weight.grad.abs().sum() > 0 and layer.recurrent.weight.grad.abs().sum() > 0
    assert layer.neuron.quantizer.count.item() == 12
    net.eval()
    assert torch.allclose(net(x), net.forward_steps(x), atol=1e-5)
    y = net(x, return_spikes=True)[1][0]
    p = layer.neuron_params()
    levels = y * p["q_scale"]
    assert torch.allclose(levels, levels.round(), atol=1e-4)          # multiples of 1/scale
    assert ((levels.round().abs() > 1) | (levels.round() == 0)).all()  # |q| <= threshold -> 0
    assert {"w_rec", "q_scale", "q_max_abs", "bn_scale", "bn_shift"} <= set(p)
    with pytest.raises(ConfigError):
        NetworkConfig(neuron="pr-v2", recurrent=True)
    with pytest.raises(ConfigError):
        NetworkConfig(neuron="pr-v2", quant_bits=2, quant_threshold=2)
