"""LIF / CUBA-LIF: hand-computed traces, strict threshold, detached reset, parametrisation."""

import pytest
import torch

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.models.neurons.lif import LIF, CubaLIF, cuba_lif_step, lif_step
from spikedeploy.models.surrogate import ATan


def run_steps(pop, xs):
    """Drive ``pop`` one step at a time with xs [T, batch, size]; return (spikes, v, u) traces."""
    state = pop.initial_state(xs.shape[1])
    s_tr, v_tr, u_tr = [], [], []
    for x in xs:
        s, state = pop.step(x, state)
        s_tr.append(s)
        v_tr.append(state.v)
        u_tr.append(state.u)
    return torch.stack(s_tr), torch.stack(v_tr), torch.stack(u_tr)


def test_lif_constant_input_trace_by_hand():
    # du = 1, dv = 0.5, vth = 1, x = 0.6 every step:
    # v1 = 0.6; v2 = 0.3 + 0.6 = 0.9; v3 = 0.45 + 0.6 = 1.05 > 1 -> spike, v = 0; then again.
    lif = LIF(1, ATan(), dv=0.5, vth=1.0, bias=False)
    xs = torch.full((9, 1, 1), 0.6)
    s, v, u = run_steps(lif, xs)
    expected_v = [0.6, 0.9, 0.0] * 3
    expected_s = [0.0, 0.0, 1.0] * 3
    assert torch.allclose(v.flatten(), torch.tensor(expected_v), atol=1e-6)
    assert s.flatten().tolist() == expected_s
    assert torch.allclose(u.flatten(), torch.full((9,), 0.6))  # the current is cleared every step
    # The module's own time loop (batch-first) gives the same spikes.
    spikes, final = lif(xs.transpose(0, 1))
    assert spikes.flatten().tolist() == expected_s
    assert final.v.item() == 0.0


def test_lif_fires_only_strictly_above_threshold():
    # x = 1: v1 = 1.0 (== vth, no spike on Loihi); v2 = 0.5 + 1 = 1.5 -> spike; v3 = 1.0; v4 = 1.5 -> spike.
    lif = LIF(1, ATan(), dv=0.5, vth=1.0, bias=False)
    s, v, _ = run_steps(lif, torch.ones(4, 1, 1))
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    assert v.flatten().tolist() == [1.0, 0.0, 1.0, 0.0]


def test_subtract_reset_trace_by_hand():
    # snnTorch's reset: dv = 0.5, vth = 1, x = 1.5, 0, 0.8, 0:
    # v1 = 1.5 -> spike (v kept); v2 = 0.75 + 0 - 1 = -0.25; v3 = -0.125 + 0.8 = 0.675; v4 = 0.3375.
    lif = LIF(1, ATan(), dv=0.5, vth=1.0, bias=False, reset="subtract")
    s, v, _ = run_steps(lif, torch.tensor([1.5, 0.0, 0.8, 0.0]).reshape(4, 1, 1))
    assert s.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    assert torch.allclose(v.flatten(), torch.tensor([1.5, -0.25, 0.675, 0.3375]), atol=1e-6)
    # the same input with Loihi's reset to zero: v = 1.5 -> 0, then 0, 0.8, 0.4
    s, v, _ = run_steps(LIF(1, ATan(), dv=0.5, vth=1.0, bias=False), torch.tensor([1.5, 0.0, 0.8, 0.0]).reshape(4, 1, 1))
    assert torch.allclose(v.flatten(), torch.tensor([0.0, 0.0, 0.8, 0.4]), atol=1e-6)


def test_zero_voltage_decay_is_an_integrate_and_fire_neuron():
    # dv = 0 (stored as a raw value whose sigmoid is 0): x = 0.6 each step -> 0.6, 1.2 (spike, 0), 0.6
    lif = LIF(1, ATan(), dv=0.5, vth=1.0, bias=False)
    lif.set_neuron_params(dv=0.0)
    assert lif.neuron_params()["dv"].item() == 0.0
    s, v, _ = run_steps(lif, torch.full((3, 1, 1), 0.6))
    assert s.flatten().tolist() == [0.0, 1.0, 0.0]
    assert v.flatten().tolist() == pytest.approx([0.6, 0.0, 0.6])
    with pytest.raises(ConfigError, match="reset"):
        LIF(1, ATan(), reset="soft")


def test_cuba_lif_impulse_trace_by_hand():
    # du = 0.5, dv = 0.5, vth = 0.9, x = [2, 0, 0, 0, 0, 0]:
    # u = 2, 1, .5, .25, .125, .0625
    # v1 = 2 > .9 -> spike, 0; v2 = 0 + 1 = 1 > .9 -> spike, 0; v3 = .5; v4 = .25 + .25 = .5;
    # v5 = .25 + .125 = .375; v6 = .1875 + .0625 = .25
    cuba = CubaLIF(1, ATan(), du=0.5, dv=0.5, vth=0.9, bias=False)
    xs = torch.tensor([2.0, 0, 0, 0, 0, 0]).view(6, 1, 1)
    s, v, u = run_steps(cuba, xs)
    assert u.flatten().tolist() == [2.0, 1.0, 0.5, 0.25, 0.125, 0.0625]
    assert v.flatten().tolist() == [0.0, 0.0, 0.5, 0.5, 0.375, 0.25]
    assert s.flatten().tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_cuba_lif_bias_enters_the_voltage():
    # No input, bias 0.25, dv = 0.5: v = .25, .375, .4375, .46875 (never reaches vth = 1).
    cuba = CubaLIF(1, ATan(), du=0.5, dv=0.5, vth=1.0, bias=True)
    cuba.set_neuron_params(bias=0.25)
    s, v, u = run_steps(cuba, torch.zeros(4, 1, 1))
    assert v.flatten().tolist() == [0.25, 0.375, 0.4375, 0.46875]
    assert u.abs().sum() == 0 and s.sum() == 0


def test_recurrent_weight_reads_previous_spikes():
    # Neuron 0 gets x = 2 at t = 0 and fires; W_rec[1, 0] = 1.5 brings neuron 1 to
    # u = 1.5 at t = 1 -> v = 1.5 > 1 -> fires; nothing else happens.
    lif = LIF(2, ATan(), recurrent=True, dv=0.5, vth=1.0, bias=False)
    with torch.no_grad():
        lif.recurrent.weight.copy_(torch.tensor([[0.0, 0.0], [1.5, 0.0]]))
    xs = torch.zeros(3, 1, 2)
    xs[0, 0, 0] = 2.0
    s, v, u = run_steps(lif, xs)
    assert s[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert s[:, 0, 1].tolist() == [0.0, 1.0, 0.0]
    assert u[:, 0, 1].tolist() == [0.0, 1.5, 0.0]


def test_lif_step_equals_cuba_step_with_du_one():
    torch.manual_seed(0)
    cuba = CubaLIF(5, ATan(), recurrent=True)
    p = cuba.params()._replace(du=torch.ones(5))
    st = cuba.initial_state(3)
    st_a = st_b = st
    for _ in range(10):
        x = torch.randn(3, 5)
        sa, st_a = cuba_lif_step(x, st_a, p, ATan())
        sb, st_b = lif_step(x, st_b, p, ATan())
        assert torch.equal(sa, sb) and torch.equal(st_a.v, st_b.v)


def test_reset_path_is_detached():
    # x1 = 2 fires at step 1 (v -> 0); v2 = 0.5 * 0 + x2 does not depend on x1 through the reset.
    lif = LIF(1, ATan(), dv=0.5, vth=1.0, bias=False)
    x = torch.tensor([[[2.0], [0.3]]], requires_grad=True)
    st = lif.initial_state(1)
    s1, st = lif.step(x[:, 0], st)
    s2, st = lif.step(x[:, 1], st)
    (g,) = torch.autograd.grad(st.v.sum(), x)
    assert s1.item() == 1.0
    assert g[0, 0, 0].item() == 0.0 and g[0, 1, 0].item() == 1.0


def test_surrogate_gradient_reaches_weights_and_parameters():
    torch.manual_seed(1)
    cuba = CubaLIF(4, ATan(), recurrent=True)
    x = torch.randn(2, 20, 4) * 2
    spikes, _ = cuba(x)
    spikes.sum().backward()
    for name in ("du_raw", "dv_raw", "vth_raw", "bias"):
        g = getattr(cuba, name).grad
        assert g is not None and g.abs().sum() > 0, name
    assert cuba.recurrent.weight.grad.abs().sum() > 0


def test_neuron_params_round_trip_and_validation():
    cuba = CubaLIF(3, ATan(), du=0.25, dv=0.125, vth=2.0)
    p = cuba.neuron_params()
    assert set(p) == {"du", "dv", "vth", "bias"}
    assert torch.allclose(p["du"], torch.full((3,), 0.25)) and torch.allclose(p["dv"], torch.full((3,), 0.125))
    assert torch.allclose(p["vth"], torch.full((3,), 2.0))
    cuba.set_neuron_params(vth=torch.tensor([0.5, 1.0, 1.5]), dv=torch.tensor([0.1, 0.2, 0.3]))
    p = cuba.neuron_params()
    assert torch.allclose(p["vth"], torch.tensor([0.5, 1.0, 1.5]))
    assert torch.allclose(p["dv"], torch.tensor([0.1, 0.2, 0.3]))
    lif = LIF(2, ATan())
    assert lif.neuron_params()["du"].tolist() == [1.0, 1.0]
    assert not hasattr(lif, "du_raw")
    with pytest.raises(ConfigError):
        lif.set_neuron_params(du=0.5)
    with pytest.raises(ConfigError):
        cuba.set_neuron_params(vth=-1.0)
    with pytest.raises(ConfigError):
        CubaLIF(2, ATan(), dv=1.5)
    with pytest.raises(ShapeMismatchError):
        cuba.set_neuron_params(vth=torch.ones(4))


def test_fixed_parameters_do_not_learn():
    cuba = CubaLIF(3, ATan(), learn_decays=False, learn_thresholds=False)
    assert not cuba.du_raw.requires_grad and not cuba.dv_raw.requires_grad and not cuba.vth_raw.requires_grad


def test_batch_first_shapes_and_wrong_size():
    lif = LIF(6, ATan())
    s, st = lif(torch.randn(4, 11, 6))
    assert s.shape == (4, 11, 6) and st.v.shape == (4, 6)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ShapeMismatchError):
        lif(torch.randn(4, 11, 5))
    with pytest.raises(ShapeMismatchError):
        lif(torch.randn(11, 6))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_runs_on_cuda_like_on_cpu():
    torch.manual_seed(2)
    cuba = CubaLIF(8, ATan(), recurrent=True)
    x = torch.randn(3, 30, 8) * 2
    s_cpu, _ = cuba(x)
    s_gpu, _ = cuba.cuda()(x.cuda())
    assert torch.equal(s_cpu, s_gpu.cpu())
