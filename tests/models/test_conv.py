"""s2net's convolutional layers: the lateral term is W W^T of the kernels, acting between the
channels at one position; the time kernel is causal (a delay); the layer equals the dense
s2net layer at every position."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.models.conv import S2NetConv
from spikedeploy.models.neurons.s2net import S2NetLIF, S2NetState, s2net_step
from spikedeploy.models.surrogate import make_surrogate

SG = make_surrogate("sigmoid")


def test_the_lateral_term_is_w_w_transpose_of_hand_set_kernels():
    layer = S2NetConv(2, 3, SG, conv="conv1d", kernel=(3,))
    k = torch.tensor([[[1., 0., 2.], [0., 1., 0.]],           # channel 0: 2 input channels x 3 bands
                      [[0., 1., 0.], [3., 0., 0.]],
                      [[1., 1., 1.], [1., 1., 1.]]])
    with torch.no_grad():
        layer.synapse.weight.copy_(k)
    p = layer.neuron.params()
    flat = k.reshape(3, 6)
    expected = torch.tensor([[6., 0., 4.], [0., 10., 4.], [4., 4., 6.]])   # <w_i, w_j> by hand
    assert torch.equal(flat @ flat.t(), expected)
    assert torch.equal(p.d, expected) and torch.equal(p.norm, torch.tensor([6., 10., 6.]))


def test_a_spike_inhibits_only_the_channels_at_its_own_position():
    layer = S2NetConv(1, 2, SG, conv="conv1d", kernel=(1,))
    with torch.no_grad():
        layer.synapse.weight.copy_(torch.tensor([[[1.0]], [[2.0]]]))       # D = [[1, 2], [2, 4]]
        layer.neuron.b.fill_(1e6)                                          # nothing fires on its own
    beta = float(layer.neuron.params().beta)
    b, f = 1, 5
    s_prev = torch.zeros(b * f, 2)
    s_prev[3, 0] = 1.0                                                     # channel 0 spiked at band 3
    x = torch.zeros(b * f, 2)
    _, st = s2net_step(x, S2NetState(torch.zeros(b * f, 2), s_prev), layer.neuron.params(), SG)
    v = st.v.reshape(b, f, 2)
    assert torch.allclose(v[0, 3], torch.tensor([-1.0, -2.0]) * beta)     # self-reset D_00, lateral D_10
    assert torch.count_nonzero(v[0, [0, 1, 2, 4]]) == 0


def test_the_time_kernel_is_causal_an_input_reaches_the_output_after_its_delay():
    layer = S2NetConv(1, 1, SG, conv="conv2d", kernel=(3, 1), dilation=(4, 1))
    with torch.no_grad():
        layer.synapse.weight.zero_()
        layer.synapse.weight[0, 0, 0, 0] = 1.0                              # the tap that reaches furthest back
    assert layer.delay == 8
    x = torch.zeros(1, 20, 1, 3)
    x[0, 5, 0, 1] = 1.0                                                    # one input at step 5, band 1
    cur = layer.currents(x)[0, :, 0, :]
    assert torch.nonzero(cur).tolist() == [[13, 1]]                        # 5 + 8, same band
    with torch.no_grad():
        layer.synapse.weight.zero_()
        layer.synapse.weight[0, 0, 2, 0] = 1.0                              # the newest tap: no delay
    assert torch.nonzero(layer.currents(x)[0, :, 0, :]).tolist() == [[5, 1]]


def test_a_1x1_conv_layer_equals_the_dense_layer_at_every_position():
    torch.manual_seed(0)
    conv = S2NetConv(4, 6, SG, conv="conv1d", kernel=(1,))
    dense_syn = torch.nn.Linear(4, 6, bias=False)
    with torch.no_grad():
        dense_syn.weight.copy_(conv.synapse.weight[:, :, 0])
        conv.neuron.b.fill_(0.05)
    dense = S2NetLIF(6, SG)
    dense.bind_synapse(dense_syn)
    with torch.no_grad():
        dense.b.fill_(0.05)
    x = (torch.rand(2, 15, 4, 7) < 0.3).float()
    s_conv, _ = conv(x)
    for f in range(7):
        s_dense, _ = dense(dense_syn(x[:, :, :, f]))
        assert torch.equal(s_conv[:, :, :, f], s_dense)
    assert 0 < float(s_conv.mean()) < 1


def test_bad_shapes_are_refused():
    with pytest.raises(ConfigError, match="odd"):
        S2NetConv(1, 2, SG, conv="conv1d", kernel=(2,))
    with pytest.raises(ConfigError, match="conv2d needs 2"):
        S2NetConv(1, 2, SG, conv="conv2d", kernel=(3,), dilation=(1,))
    with pytest.raises(ShapeMismatchError):
        S2NetConv(2, 2, SG)(torch.zeros(1, 5, 3, 4))


def test_the_network_reads_flat_or_shaped_frames_and_the_loop_measures_its_rates():
    from spikedeploy.models.conv import GSC_SMALL, ConvNetworkConfig, ConvSpikingNetwork
    from spikedeploy.training.loop import TensorData, evaluate

    torch.manual_seed(1)
    net = ConvSpikingNetwork(ConvNetworkConfig(3, 8, 4, GSC_SMALL)).eval()
    x = torch.randn(5, 12, 3, 8) * 3
    with torch.no_grad():
        logits, spikes = net(x, return_spikes=True)
        assert torch.equal(net(x.flatten(2)), logits)
    assert logits.shape == (5, 4) and [tuple(s.shape) for s in spikes] == [(5, 12, 16, 8)] * 2
    res = evaluate(net, TensorData(x.flatten(2), torch.zeros(5, dtype=torch.long)))
    expected = [float((s != 0).float().mean()) for s in spikes]
    assert res["rates"] == pytest.approx(expected) and expected[0] > 0


def test_a_threshold_floor_holds_in_training_and_travels_with_the_config():
    from spikedeploy.models.conv import ConvLayerSpec, ConvNetworkConfig, ConvSpikingNetwork

    cfg = ConvNetworkConfig(1, 6, 2, (ConvLayerSpec(2, (3,), (1,)),), conv="conv1d", b_min=0.1)
    net = ConvSpikingNetwork(cfg)
    with torch.no_grad():
        net.layers[0].neuron.b.fill_(-1.0)
    net.constrain_()
    assert torch.equal(net.layers[0].neuron.b, torch.full((2,), 0.1))
    assert ConvNetworkConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="b_min"):
        S2NetLIF(2, SG, b=0.5, b_min=0.6)


def test_the_keyword_words_set_the_class_count_and_travel_with_the_config():
    from spikedeploy.models.conv import ConvNetworkConfig
    from spikedeploy.models.presets import get_preset

    cfg = ConvNetworkConfig(n_classes=4, words=["yes", "no"])
    assert cfg.words == ("yes", "no") and ConvNetworkConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="2 words \\+ unknown \\+ silence make 4 classes, not 3"):
        ConvNetworkConfig(n_classes=3, words=("yes", "no"))
    paper = get_preset("s2net-gsc").network
    assert paper.n_classes == 12 and paper.words[:3] == ("yes", "no", "up") and len(paper.words) == 10
