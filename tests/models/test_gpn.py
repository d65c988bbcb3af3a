"""GPN: traces with hand-set gate weights, a scalar reference, random reset values."""

import math

import pytest
import torch

from spikedeploy.models.neurons.gpn import GPN, GPNState, gpn_step
from spikedeploy.models.surrogate import ATan


def set_gates(gpn: GPN, weight, bias):
    with torch.no_grad():
        gpn.gates.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        gpn.gates.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def run(gpn: GPN, xs):
    st = gpn.initial_state(1)
    s_tr, v_tr = [], []
    for x in xs:
        s, st = gpn.step(torch.tensor([[x]]), st)
        s_tr.append(s.item())
        v_tr.append(st.v.item())
    return s_tr, v_tr


def test_gpn_constant_gates_trace_by_hand():
    # Zero gate weights; biases give f = sig(0) = .5, i = sig(ln 3) = .75, b = tanh(0) = 0, th = .5.
    # x = .4: h1 = .3 -> v = .3; h2 = .15 + .3 = .45 -> v = .45; h3 = .225 + .3 = .525 >= .5 -> spike, v = 0.
    gpn = GPN(1, ATan()).eval()
    set_gates(gpn, torch.zeros(4, 2), [0.0, math.log(3.0), 0.0, 0.0])
    s, v = run(gpn, [0.4] * 6)
    assert s == [0.0, 0.0, 1.0] * 2
    assert v == pytest.approx([0.3, 0.45, 0.0] * 2, abs=1e-6)


def test_gpn_bypass_is_added_after_reset():
    # As above with b = tanh(atanh(.125)) = .125:
    # h1 = .3 -> v = .425; h2 = .2125 + .3 = .5125 -> spike, v = 0 + .125;
    # h3 = .0625 + .3 = .3625 -> v = .4875; h4 = .24375 + .3 = .54375 -> spike, v = .125
    gpn = GPN(1, ATan()).eval()
    set_gates(gpn, torch.zeros(4, 2), [0.0, math.log(3.0), math.atanh(0.125), 0.0])
    s, v = run(gpn, [0.4] * 6)
    assert s == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert v == pytest.approx([0.425, 0.125, 0.4875, 0.125, 0.4875, 0.125], abs=1e-6)


def _scalar_reference(w, b, xs):
    """The GPN equations for one neuron, written with the math module."""
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    v, out = 0.0, []
    for x in xs:
        a = [w[k][0] * v + w[k][1] * x + b[k] for k in range(4)]
        f, i, byp, th = sig(a[0]), sig(a[1]), math.tanh(a[2]), sig(a[3])
        h = f * v + i * x
        s = 1.0 if h >= th else 0.0
        v = (1 - s) * h + s * 0.0 + byp
        out.append((s, v, h - th))
    return out


def test_gpn_general_gate_weights_match_scalar_reference():
    w = [[0.5, -0.3], [0.2, 0.8], [-1.0, 0.4], [0.3, 0.1]]
    b = [0.1, -0.2, 0.05, 0.0]
    xs = [0.9, 1.2, -0.4, 2.0, 0.1, 1.5, 1.5, 0.0, 3.0, -1.0]
    ref = _scalar_reference(w, b, xs)
    assert min(abs(m) for _, _, m in ref) > 1e-3  # no near-ties: the spike pattern is unambiguous
    assert 0 < sum(s for s, _, _ in ref) < len(xs)
    gpn = GPN(1, ATan()).eval()
    set_gates(gpn, w, b)
    s, v = run(gpn, xs)
    assert s == [r[0] for r in ref]
    assert v == pytest.approx([r[1] for r in ref], abs=1e-6)
    # The module's fast time loop (gate matrix split into v and x halves) agrees.
    spikes, st = gpn(torch.tensor(xs).view(1, -1, 1))
    assert spikes.flatten().tolist() == [r[0] for r in ref]
    assert st.v.item() == pytest.approx(ref[-1][1], abs=1e-6)


def test_fast_loop_equals_step_function():
    torch.manual_seed(0)
    gpn = GPN(16, ATan()).eval()
    x = torch.randn(3, 25, 16)
    spikes, st = gpn(x)
    st2 = gpn.initial_state(3)
    ref = []
    for t in range(25):
        s, st2 = gpn_step(x[:, t], st2, gpn.params(), gpn.surrogate)
        ref.append(s)
    ref = torch.stack(ref, 1)
    assert torch.equal(spikes, ref)
    assert torch.allclose(st.v, st2.v, atol=1e-5)


def test_random_reset_values_in_training_zero_in_eval():
    torch.manual_seed(3)
    gpn = GPN(200, ATan(), v_reset_std=0.05)
    st = gpn.train().initial_state(100)
    assert torch.equal(st.v, st.v_reset)
    assert st.v_reset.std().item() == pytest.approx(0.05, rel=0.05)
    assert abs(st.v_reset.mean().item()) < 0.005
    st_eval = gpn.eval().initial_state(100)
    assert st_eval.v.abs().sum() == 0 and st_eval.v_reset.abs().sum() == 0
    # After a spike the voltage is v_reset (+ bypass = 0 here): i = .75, x = 10 fires at once.
    gpn.train()
    set_gates(gpn, torch.zeros(800, 400), torch.cat([torch.zeros(200), torch.full((200,), math.log(3.0)),
                                                     torch.zeros(400)]))
    st = gpn.initial_state(4)
    s, st2 = gpn.step(torch.full((4, 200), 10.0), st)
    assert s.sum() == 800
    assert torch.equal(st2.v, st.v_reset)


def test_gradient_flows_to_gates_and_input():
    torch.manual_seed(4)
    gpn = GPN(8, ATan()).train()
    x = torch.randn(2, 15, 8, requires_grad=True)
    s, _ = gpn(x)
    s.sum().backward()
    assert gpn.gates.weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def test_neuron_params_layout():
    gpn = GPN(5, ATan())
    p = gpn.neuron_params()
    assert p["gate_weight"].shape == (20, 10) and p["gate_bias"].shape == (20,)
    assert torch.equal(p["gate_weight"], gpn.gates.weight)
    assert isinstance(gpn.initial_state(2), GPNState)
