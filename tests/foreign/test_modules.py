"""from_module against the libraries' own forward passes: snnTorch 1.0, norse 1.1 and
SpikingJelly run their network step by step; the converted network must give the same
logits (within 1e-5 in float64) and the same spikes in every layer."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from spikedeploy.errors import ForeignModelError
from spikedeploy.foreign.modules import from_module

T, B, N_IN, H, K = 25, 5, 40, 24, 6


def _need(name: str):
    return pytest.mark.skipif(importlib.util.find_spec(name) is None,
                              reason=f"{name} is not installed (the dev extra installs it)")


def _frames(seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, N_IN, generator=g) < 0.3).double()


def _linears(seed: int, sizes, gain: float = 2.5):
    torch.manual_seed(seed)
    out = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        lin = nn.Linear(n_in, n_out).double()
        with torch.no_grad():
            lin.weight.mul_(gain)
        out.append(lin)
    return out


def _record(net: nn.Module, neuron_types: tuple[type, ...], run) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``run(x_t)`` over the frames, recording every neuron module's spikes."""
    seen: dict[int, list[torch.Tensor]] = {}
    hooks = []
    for m in net.modules():
        if isinstance(m, neuron_types):
            def hook(mod, inp, out, key=id(m)):
                seen.setdefault(key, []).append((out[0] if isinstance(out, tuple) else out).detach().double())
            hooks.append(m.register_forward_hook(hook))
    x = _frames()
    outs = [run(x[:, t]) for t in range(T)]
    for h in hooks:
        h.remove()
    return torch.stack(outs, 0).mean(0), [torch.stack(v, 1) for v in seen.values()]


def _check(ref_logits, ref_spikes, conv):
    net = conv.network.double()
    with torch.no_grad():
        logits, spikes = net(_frames(), return_spikes=True)
    assert float((logits - ref_logits).abs().max()) <= 1e-5
    assert len(spikes) == len(ref_spikes)
    for k, (a, b) in enumerate(zip(ref_spikes, spikes)):
        assert torch.equal(a, b), f"layer {k}: {int((a != b).sum())} spikes differ"
        assert 0.01 < float(a.mean()) < 0.7, f"layer {k} rate {float(a.mean())}: the check needs spiking"


@_need("snntorch")
@pytest.mark.parametrize("kind,reset", [("Leaky", "zero"), ("Leaky", "subtract"), ("RLeaky", "subtract"),
                                        ("Synaptic", "subtract"), ("RSynaptic", "subtract")])
def test_snntorch_networks(kind, reset):
    import snntorch as snn
    from snntorch import utils

    def neuron(i, size):
        beta = torch.linspace(0.6, 0.95, size, dtype=torch.float64) if i == 0 else 0.8
        kw = dict(beta=beta, threshold=1.0 + 0.2 * i, init_hidden=True, reset_mechanism=reset)
        if kind in ("Synaptic", "RSynaptic"):
            kw["alpha"] = 0.5 + 0.2 * i
        if kind in ("RLeaky", "RSynaptic"):
            kw.update(all_to_all=i == 0, linear_features=size if i == 0 else None, V=0.3)
        return getattr(snn, kind)(**kw)

    l1, l2, l3 = _linears(0, (N_IN, H, H, K))
    # float32: snnTorch's spike functions return float32 whatever the input
    net = nn.Sequential(l1, neuron(0, H), l2, neuron(1, H), l3).float()
    utils.reset(net)
    ref = _record(net, (getattr(snn, kind),), lambda x: net(x.float()))
    utils.reset(net)
    _check(*ref, from_module(net))


@_need("norse")
@pytest.mark.parametrize("cell", ["LIFCell", "LIFBoxCell"])
def test_norse_networks(cell):
    import norse.torch as norse

    p_cls = norse.LIFParameters if cell == "LIFCell" else norse.LIFBoxParameters
    params = p_cls(tau_mem_inv=torch.full((H,), 120.0, dtype=torch.float64), v_th=torch.tensor(0.3))
    l1, l2, l3 = _linears(1, (N_IN, H, H, K), gain=8.0)
    net = norse.SequentialState(l1, getattr(norse, cell)(params), l2, getattr(norse, cell)(params), l3).double()
    state = [None]

    def step(x):
        out, state[0] = net(x, state[0])
        return out

    ref = _record(net, (getattr(norse, cell),), step)
    _check(*ref, from_module(net))


@_need("spikingjelly")
@pytest.mark.parametrize("api,node,kw", [("clock_driven", "IFNode", {}), ("clock_driven", "LIFNode", {"tau": 3.0}),
                                         ("clock_driven", "LIFNode", {"tau": 2.5, "decay_input": False, "v_reset": -0.2}),
                                         ("clock_driven", "ParametricLIFNode", {"init_tau": 4.0}),
                                         ("activation_based", "LIFNode", {"tau": 2.0})])
def test_spikingjelly_networks(api, node, kw):
    functional = importlib.import_module(f"spikingjelly.{api}.functional")
    neuron = importlib.import_module(f"spikingjelly.{api}.neuron")

    cls = getattr(neuron, node)
    l1, l2, l3 = _linears(2, (N_IN, H, H, K), gain=1.5 if node == "IFNode" else 5.0)
    if node != "IFNode":
        with torch.no_grad():
            l2.weight.mul_(3.0)                # the leak needs more drive in the second layer
    net = nn.Sequential(l1, cls(**kw), l2, cls(**kw), l3).double()
    functional.reset_net(net)
    ref = _record(net, (cls,), lambda x: net(x))
    functional.reset_net(net)
    conv = from_module(net)
    _check(*ref, conv)
    assert any("v >= threshold" in n for n in conv.notes)


def test_an_unknown_module_is_named_with_its_position():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ForeignModelError, match=r"module 1.*ReLU has no counterpart"):
        from_module(net)


@_need("snntorch")
def test_refused_snntorch_settings_say_why():
    import snntorch as snn

    net = nn.Sequential(nn.Linear(4, 3), snn.Synaptic(alpha=0.5, beta=0.5, reset_mechanism="zero", init_hidden=True))
    with pytest.raises(ForeignModelError, match="zeroes the whole step"):
        from_module(net)
    net = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.5, graded_spikes_factor=2.0, init_hidden=True))
    with pytest.raises(ForeignModelError, match="graded spikes"):
        from_module(net)
