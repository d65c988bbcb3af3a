"""NeuroBench's SynapticOperations on our own model as it is (a recurrent LIF SpikingNetwork
stepped through time), against our counts of the same run (neurobench 2.3.0, in the dev extra).

NeuroBench counts the operations of every nn.Linear call it hooks. Our model's step calls the
feed-forward synapse, the recurrent weight (``CubaLIF.step`` applies it through its
nn.Linear for that reason) and the readout synapse, once per time step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikedeploy.metrics.backend_runs import float_batch
from spikedeploy.metrics.records import layers_from_model
from spikedeploy.metrics.run_counts import RunCounter
from spikedeploy.models.networks import NetworkConfig, build_network

nb = pytest.importorskip("neurobench", reason="neurobench is not installed (the dev extra installs it)")


class Stepped(nn.Module):
    """Our network, called on [B, T, C] frames, run step by step as ``forward_steps`` does."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        states = self.net.initial_state(x.shape[0], x.device, x.dtype)
        out = []
        for x_t in x.unbind(1):
            v, _, states = self.net.step(x_t, states)
            out.append(v)
        return torch.stack(out, 1)


def _network():
    torch.manual_seed(0)
    cfg = NetworkConfig(input_size=12, hidden=(10,), n_classes=3, neuron="lif", recurrent=True, readout="li",
                        dv_init=0.3)
    net = build_network(cfg).eval()
    with torch.no_grad():
        net.layers[0].synapse.weight.mul_(4.0)
        net.layers[0].recurrent.weight.mul_(2.0)
    return net


def _neurobench(net, x, batch_size):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import SynapticOperations
    from neurobench.models import TorchModel

    data = torch.utils.data.TensorDataset(x, torch.zeros(x.shape[0]))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    res = Benchmark(TorchModel(Stepped(net)), loader, [], [], [[], [SynapticOperations]]).run(quiet=True)
    return res["SynapticOperations"]


def _ours(net, x, rule):
    layers = layers_from_model(net)
    counter = RunCounter(layers, dt=1e-3, decide_per=rule)
    with torch.no_grad():
        _, spikes, _, _ = float_batch(net, x)
    counter.update(x, {layer.name: s for layer, s in zip(layers, spikes)})
    return counter.compute().synops


@pytest.mark.parametrize("batch,rule", [(1, "sample_step"), (6, "batch_step")])
def test_neurobench_counts_our_recurrent_model_as_we_do(batch, rule):
    net = _network()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(6, 15, 12, generator=g) < 0.3).float() * torch.randint(1, 3, (6, 15, 12), generator=g)
    x[0] = (x[0] != 0).float()                 # one binary sample: its input steps are ACs, the others' MACs
    theirs = _neurobench(net, x, batch)
    ours = _ours(net, x, rule)
    spikes = float((net(x, return_spikes=True)[1][0] != 0).float().mean())
    assert 0.05 < spikes < 0.9, "the check needs a layer that spikes and is silent in places"
    assert theirs["Effective_ACs"] > 0 and theirs["Effective_MACs"] > 0
    assert (theirs["Effective_ACs"], theirs["Effective_MACs"], theirs["Dense"]) == \
        (ours.effective_acs, ours.effective_macs, ours.dense_ops), rule


def test_the_recurrent_weight_is_counted():
    # Without the recurrent Linear's calls NeuroBench would miss its operations: its dense count
    # includes the recurrent weight on every step (10 x 10 per step and sample).
    net = _network()
    x = (torch.rand(2, 15, 12, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    theirs = _neurobench(net, x, 2)
    assert theirs["Dense"] == 15 * (12 * 10 + 10 * 10 + 10 * 3)
