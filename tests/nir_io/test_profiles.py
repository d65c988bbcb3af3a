"""export-nir --for snntorch / norse: the graph each importer reads as meant. The reference
graphs of export/ (written by this project) go through snnTorch 1.0's import_from_nir and norse
1.1's from_nir, and their hidden spikes equal our float model's, every one."""

from __future__ import annotations

import dataclasses

import nir
import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ConversionError
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.nir_io import load_nir, nir_to_spec, read_nir
from spikedeploy.nir_io.export import spec_to_nir, write_nir
from spikedeploy.nir_io.profiles import PROFILES
from spikedeploy.stages.export import ExportOptions


def _graph(spec, consumer):
    pr = PROFILES[consumer](spec)
    return spec_to_nir(pr.spec, input_gain=pr.input_gain, param_dt=pr.param_dt, readout_neuron=pr.readout_neuron,
                       profile=consumer), pr


def _frames(spec, seed=0):
    return (torch.rand(4, 40, spec.input_size, generator=torch.Generator().manual_seed(seed)) < 0.1).double()


def _ours(spec, x):
    with torch.no_grad():
        run = SpecNetwork(spec, dtype=torch.float64).run(x)
    return run.outputs[:-1], run.outputs[-2]


def _snntorch_run(graph, x):
    snn = pytest.importorskip("snntorch")
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    module = import_from_nir(graph)
    spikes = {}
    cells = [m for m in module.modules() if isinstance(m, snn.Leaky)]
    hooks = [c.register_forward_hook(lambda m, i, o, k=k: spikes.setdefault(k, []).append(o.detach()))
             for k, c in enumerate(cells)]
    utils.reset(module)
    with torch.no_grad():
        outs = [module(x[:, t].float()) for t in range(x.shape[1])]
    out = torch.stack([o if isinstance(o, torch.Tensor) else o[0] for o in outs], 1)
    for h in hooks:
        h.remove()
    return [torch.stack(spikes[k], 1).double() for k in sorted(spikes)], out.double()


def _norse_run(graph, x, dt):
    import norse.torch as norse

    module = norse.from_nir(graph, dt=dt)
    spikes, state, outs = {}, None, []
    cells = [m for m in module.modules() if type(m).__name__ in ("LIFBoxCell", "LIFCell", "IAFCell")]
    hooks = [c.register_forward_hook(lambda m, i, o, k=k: spikes.setdefault(k, []).append(o[0].detach()))
             for k, c in enumerate(cells)]
    with torch.no_grad():
        for t in range(x.shape[1]):
            o, state = module(x[:, t].float(), state)
            outs.append(o)
    for h in hooks:
        h.remove()
    return [torch.stack(spikes[k], 1).double() for k in sorted(spikes)], torch.stack(outs, 1).double()


@pytest.mark.parametrize("name", ["lif-ff-shd"])
def test_snntorch_reads_the_snntorch_profile_as_we_mean_it(name):
    spec = load_nir(f"export/{name}.nir")
    assert len(np.unique(spec.layers[0].vth)) > 1, "per-neuron thresholds: the profile must make them one"
    graph, prepared = _graph(spec, "snntorch")
    x = _frames(spec)
    theirs, out = _snntorch_run(graph, x)
    ours, last = _ours(spec, x)
    for a, b in zip(theirs, ours):
        assert torch.equal(a, b), f"{int((a != b).sum())} of {a.numel()} spikes differ"
        assert 0.02 < float(a.mean()) < 0.5
    readout = spec.layers[-1]
    current = last @ torch.as_tensor(readout.weight).double().t() + torch.as_tensor(readout.bias).double()
    assert float((out - current).abs().max()) < 1e-5          # the graph ends at the readout's synapse
    assert any("W s_t + b" in n for n in prepared.notes)


@pytest.mark.parametrize("name", ["lif-ff-shd", "lif-shd"])
def test_norse_reads_the_norse_profile_as_we_mean_it(name):
    spec = load_nir(f"export/{name}.nir")
    graph, _ = _graph(spec, "norse")
    x = _frames(spec, seed=1)
    theirs, _ = _norse_run(graph, x, spec.dt)
    ours, _ = _ours(spec, x)
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours):
        assert torch.equal(a, b), f"{int((a != b).sum())} of {a.numel()} spikes differ"
        assert 0.02 < float(a.mean()) < 0.5


def test_what_a_consumer_cannot_express_is_refused_with_the_reason():
    recurrent = load_nir("export/lif-shd.nir")
    with pytest.raises(ConversionError, match="recurrent layer: snnTorch"):
        PROFILES["snntorch"](recurrent)
    cuba = load_nir("export/cuba-shd.nir")
    with pytest.raises(ConversionError, match="norse leaks its synapse"):
        PROFILES["norse"](cuba)
    if_spec = dataclasses.replace(recurrent, layers=(dataclasses.replace(recurrent.layers[0], rec_weight=None,
                                                                         dv=np.zeros_like(recurrent.layers[0].dv)),
                                                     recurrent.layers[1]))
    with pytest.raises(ConversionError, match="imports IF as Leaky"):
        PROFILES["snntorch"](if_spec)
    with pytest.raises(ConfigError, match="no Loihi integers"):
        ExportOptions(checkpoint="m.pt", quantized=True, consumer="norse")


def test_a_profile_graph_is_valid_nir_that_our_readers_refuse_to_run(tmp_path):
    spec = load_nir("export/lif-ff-shd.nir")
    path = write_nir(tmp_path / "for_norse.nir", spec, prepared=PROFILES["norse"](spec), profile="norse")
    graph = read_nir(path)                                            # nir's own type check passes
    assert "readout.neuron" not in graph.nodes and isinstance(graph.nodes["readout.synapse"], nir.Affine)
    with pytest.raises(ConversionError, match="written for norse"):
        nir_to_spec(graph)


def _rockpool():
    pytest.importorskip("rockpool")
    from rockpool.nn.modules.torch.nir import from_nir

    return from_nir


def _one_cuba_neuron() -> nir.NIRGraph:
    one = lambda v: np.full(1, v, np.float32)  # noqa: E731
    return nir.NIRGraph.from_list(nir.Linear(np.ones((1, 1), np.float32)),
                                  nir.CubaLIF(tau_syn=one(0.02), tau_mem=one(0.05), r=one(5.0), v_leak=one(0.0),
                                              v_threshold=one(1.0), w_in=one(2.0)))


@pytest.mark.filterwarnings("ignore")
def test_rockpool_imports_a_neuron_that_spikes_several_times_per_step_and_subtracts():
    """The reason --for rockpool refuses every spiking layer, checked in rockpool 3.1 itself: its
    neuron emits floor(v / threshold) spikes in one step and keeps the remainder, where ours
    (Loihi's) emits one and resets to zero."""
    from_nir = _rockpool()
    module = from_nir(_one_cuba_neuron())
    neuron = next(m for m in module.modules() if type(m).__name__ == "LIFTorch")
    neuron._record = True
    with torch.no_grad():
        spikes = neuron(torch.tensor([[[40.0], [0.0]]]))
    v = float(neuron._record_dict["vmem"][0, 0, 0])
    beta = float(np.exp(-neuron.dt / 0.02))
    v_before = 40.0 * beta                                      # isyn = beta (isyn + x); v = isyn (v0 = 0)
    assert float(spikes[0, 0, 0]) == np.floor(v_before) >= 2     # several spikes in one step
    assert v == pytest.approx(v_before - np.floor(v_before), abs=1e-4) and v > 0   # subtracted, not reset


@pytest.mark.filterwarnings("ignore")
def test_rockpool_cannot_read_nir_lif_and_casts_an_li_tau_to_an_integer():
    """rockpool 3.1's importer bugs written down in docs/nir-conventions.md 7c: nir.LIF is read
    through an attribute it does not have; LI's tau is cast to int (0 for any tau under 1 s)."""
    from_nir = _rockpool()
    one = lambda v: np.full(1, v, np.float32)  # noqa: E731
    lif = nir.NIRGraph.from_list(nir.Linear(np.ones((1, 1), np.float32)),
                                 nir.LIF(tau=one(0.05), r=one(5.0), v_leak=one(0.0), v_threshold=one(1.0)))
    with pytest.raises(AttributeError, match="tau_mem"):
        from_nir(lif)
    two = lambda v: np.full(2, v, np.float32)  # noqa: E731 - (one LI neuron fails earlier: float has no .int)
    li = nir.NIRGraph.from_list(nir.Linear(np.ones((2, 2), np.float32)),
                                nir.LI(tau=two(0.05), r=two(5.0), v_leak=two(0.0)))
    syn = next(m for m in from_nir(li).modules() if type(m).__name__ == "ExpSynTorch")
    assert syn.tau.detach().tolist() == [0.0, 0.0]


def test_rockpool_and_sinabs_profiles_refuse_every_model_naming_its_first_spiking_layer():
    for name in ("lif-shd", "lif-ff-shd", "cuba-shd", "gpn-small-folded"):
        spec = load_nir(f"export/{name}.nir")
        first = next(layer.name for layer in spec.layers if layer.spiking)
        for consumer, what in (("rockpool", "LIFTorch"), ("sinabs", "MultiSpike")):
            with pytest.raises(ConversionError, match=f"{what}.*floor\\(v / threshold\\)") as info:
                PROFILES[consumer](spec)
            assert info.value.node == first
    readout_only = dataclasses.replace(spec, layers=(spec.layers[-1],), input_size=spec.layers[-1].n_in)
    with pytest.raises(ConversionError, match="tau cast to an integer"):
        PROFILES["rockpool"](readout_only)
