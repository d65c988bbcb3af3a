"""s2net's conv layers as NIR Conv1d nodes: exact both ways, and the reader's Conv1d against torch."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from spikedeploy.errors import ConversionError
from spikedeploy.fold.s2net_conv import conv_to_spec
from spikedeploy.nir_io.export import check_same_spec, spec_to_nir, write_nir
from spikedeploy.nir_io.load import load_nir, nir_to_spec

from ..fold.test_s2net_conv import BANDS, _net, _net2d


@pytest.mark.parametrize("make", [_net, _net2d], ids=["conv1d", "conv2d"])
def test_conv_layers_are_written_as_conv1d_nodes_and_read_back_equal(tmp_path, make):
    net = make(1)
    spec = conv_to_spec(net, 1e-3)
    path = write_nir(tmp_path / "c.nir", spec, conv_nodes=True)            # verify=True: read back bit for bit
    graph = nir.read(path)
    syn = graph.nodes["conv1.synapse"]
    assert isinstance(syn, nir.Conv1d) and syn.weight.shape == (2, 3, 3) and syn.dilation == (2 if make is _net else 1)
    assert isinstance(graph.nodes["conv0.recurrent"], nir.Conv1d) and graph.nodes["conv0.recurrent"].weight.shape[2] == 1
    assert tuple(graph.nodes["input"].input_type["input"]) == (1, BANDS)
    assert graph.nodes["conv1.neuron"].tau.shape == (2, BANDS)
    assert isinstance(graph.nodes["readout.flatten"], nir.Flatten)
    # the kernel written is the folded layer's: its weights divided by the kernel norm and threshold
    layer = net.layers[1]
    p = layer.neuron.params()
    scale = (1 - float(p.beta)) / (p.norm.double() + 1e-8) / p.b.double()
    w = layer.synapse.weight.detach().double()
    want = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    got = syn.weight if make is _net else graph.nodes["conv1.tap2"].weight     # conv2d: time tap 0 has delay 2
    want = want if make is _net else want[:, :, 0]
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5)
    check_same_spec(spec, load_nir(path))
    if make is _net2d:
        assert graph.nodes["conv0.delay2"].delay.shape == (1, BANDS)


def test_a_layer_that_is_not_a_convolution_is_refused():
    net = _net(2)
    net.set_input_norm(torch.zeros(1, BANDS), torch.linspace(0.5, 1.5, BANDS)[None])   # std per band: folded
    with pytest.raises(ConversionError, match="not a convolution over the bands") as err:
        spec_to_nir(conv_to_spec(net, 1e-3), conv_nodes=True)
    assert err.value.node == "conv0" and "without --conv-nodes" in err.value.remedy


def test_the_reader_applies_a_conv1d_node_as_torch_does():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2, 3)).astype(np.float32)
    nodes = {"in": nir.Input(input_type=np.array([2, 7])),
             "conv": nir.Conv1d(input_shape=7, weight=w, stride=2, padding=2, dilation=2, groups=1,
                                bias=np.array([0.5, 0.0, -1.0], dtype=np.float32)),
             "flat": nir.Flatten(input_type={"input": np.array([3, 4])}, start_dim=0),
             "out": nir.Output(output_type=np.array([12]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "conv"), ("conv", "flat"), ("flat", "out")])
    layer = nir_to_spec(g, dt=1e-3).layers[0]                 # linear nodes only: a du = dv = 1 readout
    x = rng.normal(size=(5, 2, 7))
    ref = torch.nn.functional.conv1d(torch.as_tensor(x), torch.as_tensor(w, dtype=torch.float64), stride=2,
                                     padding=2, dilation=2) + torch.tensor([0.5, 0.0, -1.0])[:, None]
    np.testing.assert_allclose(x.reshape(5, -1) @ layer.weight.T.astype(np.float64) + layer.bias,
                               ref.reshape(5, -1).numpy(), atol=1e-5)
