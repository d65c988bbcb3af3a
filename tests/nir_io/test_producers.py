"""Producer conventions: graphs written by snnTorch 1.0 and norse 1.1 (their own exporters) read
with no step given, as the producer simulates them (identical spikes in float64, in Python and
in a Lava floating_pt run)."""

from __future__ import annotations

import importlib.util
from unittest import mock

import nir
import numpy as np
import pytest
import torch
from torch import nn

from spikedeploy.data.shd import BinningConfig, ShdDataset
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.nir_io import nir_to_spec
from spikedeploy.nir_io.producers import detect_producer, read_as

from ..training.toy_shd import write_toy_dataset

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")
BINNING = BinningConfig(n_steps=20, duration=0.5, binary=True, n_channels=40)


def _linear(n_in, n_out, gain, bias=True, seed=0):
    torch.manual_seed(seed)
    lin = nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        lin.weight.mul_(gain)
    return lin


def _snntorch_net():
    snn = pytest.importorskip("snntorch")
    # Leaky with the reset to zero: what a NIR graph can say exactly (snnTorch writes v_reset = 0 for every
    # reset; its Synaptic "zero" reset also drops the next step's input, which no NIR node does)
    # per-neuron parameters: nir.write cannot store the 0-d arrays written for scalar ones (h5py: "Scalar
    # datasets don't support chunk/filter options")
    def leaky(n, beta):
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), init_hidden=True,
                         reset_mechanism="zero")

    return nn.Sequential(_linear(40, 16, 3.0), leaky(16, 0.8), _linear(16, 12, 3.0, seed=1), leaky(12, 0.9),
                         _linear(12, 4, 1.0, seed=2))


def _snntorch_graph(net) -> nir.NIRGraph:
    from snntorch.export_nir import export_to_nir

    # snntorch 1.0's export_to_nir ends with graph.infer_types(), which fails under nir 1.0.8 (its neuron
    # nodes carry no input type: "type mismatch: 0.output: [[16]] -> 1.input: []"); the graph before that
    # call is snnTorch's export.
    with mock.patch.object(nir.NIRGraph, "infer_types", lambda self: None):
        return export_to_nir(net, torch.zeros(1, 40))


def _snntorch_run(net, x):
    from snntorch import utils

    spikes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, k=k: spikes.setdefault(k, []).append(o.detach()))
             for k, m in enumerate(net) if not isinstance(m, nn.Linear)]
    utils.reset(net)
    with torch.no_grad():
        for t in range(x.shape[1]):
            net(x[:, t].float())
    for h in hooks:
        h.remove()
    return [torch.stack(v, 1).double() for v in spikes.values()]


def _norse_net():
    import norse.torch as norse

    # per-neuron parameters: nir.write cannot store the 0-d arrays norse writes for scalar ones
    # (h5py: "Scalar datasets don't support chunk/filter options")
    p_box = norse.LIFBoxParameters(tau_mem_inv=torch.full((16,), 80.0), v_th=torch.full((16,), 0.4),
                                   v_leak=torch.zeros(16), v_reset=torch.zeros(16))
    p_cuba = norse.LIFParameters(tau_mem_inv=torch.full((12,), 120.0), tau_syn_inv=torch.full((12,), 250.0),
                                 v_th=torch.full((12,), 0.3), v_leak=torch.zeros(12), v_reset=torch.zeros(12))
    return norse.SequentialState(_linear(40, 16, 12.0), norse.LIFBoxCell(p_box),
                                 _linear(16, 12, 8.0, bias=False, seed=1), norse.LIFCell(p_cuba),
                                 _linear(12, 4, 1.0, seed=2))


def _norse_graph(net) -> nir.NIRGraph:
    import norse.torch as norse

    return norse.to_nir(net, torch.zeros(1, 40), dt=1e-3)


def _norse_run(net, x):
    import norse.torch as norse

    spikes, hooks = {}, []
    for k, m in enumerate(net):
        if isinstance(m, (norse.LIFBoxCell, norse.LIFCell)):
            hooks.append(m.register_forward_hook(lambda mod, i, o, k=k: spikes.setdefault(k, []).append(o[0].detach())))
    state = None
    with torch.no_grad():
        for t in range(x.shape[1]):
            _, state = net(x[:, t].float(), state)
    for h in hooks:
        h.remove()
    return [torch.stack(v, 1).double() for v in spikes.values()]


PRODUCERS = {"snntorch": (_snntorch_net, _snntorch_graph, _snntorch_run),
             "norse": (_norse_net, _norse_graph, _norse_run)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("producers"), n_train=20, n_test=12, channels=40)


def _frames(data):
    return ShdDataset(data / "test.h5", BINNING, progress=False).tensors()[0].double()


@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_a_producers_graph_reads_as_the_producer_runs_it(producer, data):
    make, export, run = PRODUCERS[producer]
    net = make()
    graph = export(net)
    assert detect_producer(graph) == producer
    reading = read_as(graph)
    assert reading.producer == producer and reading.notes
    spec = nir_to_spec(reading.graph, dt=reading.dt)
    x = _frames(data)
    theirs = run(net, x)
    with torch.no_grad():
        ours = SpecNetwork(spec, dtype=torch.float64).run(x).outputs[:-1]
    for k, (a, b) in enumerate(zip(theirs, ours)):
        assert torch.equal(a, b), f"layer {k}: {int((a != b).sum())} of {a.numel()} spikes differ"
        assert 0.02 < float(a.mean()) < 0.7, f"layer {k} rate {float(a.mean())}"


@needs_lava
@pytest.mark.parametrize("producer", sorted(PRODUCERS))
def test_lava_run_reads_a_producers_graph_with_no_dt(producer, data, tmp_path, capsys):
    from spikedeploy.cli import main
    from spikedeploy.lava_backend.results import read_results

    make, export, run = PRODUCERS[producer]
    net = make()
    path = tmp_path / f"{producer}.nir"
    nir.write(path, export(net))
    out = tmp_path / "r.npz"
    assert main(["lava-run", str(path), "--data", str(data / "test.h5"), "--float", "--time-steps", "20",
                 "--duration", "0.5", "--binary", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert {"snntorch": "read as an snnTorch graph", "norse": "read as a norse graph"}[producer] in text
    res = read_results(out)
    theirs = run(net, _frames(data)[res.sample_indices])
    assert len(res.spikes) == len(theirs)
    equal = [float((torch.as_tensor(s).double() == a).double().mean()) for s, a in zip(res.spikes.values(), theirs)]
    assert min(equal) >= 0.999, equal


def test_our_graphs_are_ours_and_a_producer_can_be_named():
    from spikedeploy.errors import ConfigError
    from spikedeploy.nir_io import read_nir

    ours = read_nir("export/lif-ff-shd.nir")
    assert detect_producer(ours) == "spikedeploy" and read_as(ours).graph is ours
    norse_graph = _norse_graph(_norse_net())
    as_written = read_as(norse_graph, "nir")
    assert as_written.producer is None and as_written.graph is norse_graph and as_written.dt is None
    assert read_as(norse_graph, "norse", dt=2e-3).dt == 2e-3
    with pytest.raises(ConfigError, match="unknown producer"):
        read_as(norse_graph, "rockpool")
