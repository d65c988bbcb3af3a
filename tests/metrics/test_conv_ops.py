"""SynOps of the convolutional network by NeuroBench's rules, against counts written by hand."""

from __future__ import annotations

import pytest
import torch

from spikedeploy.metrics.conv_ops import conv_synops
from spikedeploy.models.conv import ConvLayerSpec, ConvNetworkConfig, ConvSpikingNetwork


def _net(conv="conv2d", kernel=(3, 3), dilation=(2, 1)):
    torch.manual_seed(0)
    return ConvSpikingNetwork(ConvNetworkConfig(1, 6, 4, (ConvLayerSpec(5, kernel, dilation),), conv=conv))


def test_one_input_spike_reaches_c_out_times_the_taps_that_land_inside():
    net = _net()
    x = torch.zeros(1, 10, 1, 6)
    x[0, 2, 0, 3] = 1.0                    # step 2, band 3: every frequency tap lands inside (bands 2..4)
    ops = conv_synops(net, x)["conv0"]
    # time taps: steps 2, 4, 6 (dilation 2, causal) all within 10 steps -> 3 x 3 taps x 5 channels
    assert ops["effective_acs"] - ops["spikes"] * 5 == 5 * 3 * 3
    assert ops["effective_macs"] == 0
    x = torch.zeros(1, 10, 1, 6)
    x[0, 8, 0, 0] = 1.0                    # step 8: only the taps to steps 8 (not 10, 12); band 0: bands 0, 1
    ops = conv_synops(net, x)["conv0"]
    assert ops["effective_acs"] - ops["spikes"] * 5 == 5 * 1 * 2


def test_dense_ops_count_every_position_and_real_input_is_multiply_accumulates():
    net = _net(conv="conv1d", kernel=(3,), dilation=(1,))
    x = torch.randn(2, 4, 1, 6)
    ops = conv_synops(net, x)
    # 'same' padding over 6 bands with 3 taps: 4 bands see 3 inputs, the 2 edges 2 -> 16 per channel and step
    assert ops["conv0"]["dense_ops"] == 5 * 16 * 4
    assert ops["conv0"]["effective_macs"] == pytest.approx(5 * 16 * 4)      # every input non-zero
    s = net(x, return_spikes=True)[1][0]
    assert ops["conv0"]["effective_acs"] == pytest.approx(float((s != 0).sum()) * 5 / 2)   # lateral only
    assert ops["readout"]["effective_acs"] == pytest.approx(float((s != 0).sum()) * 4 / 2)
    assert ops["conv0"]["neuron_updates"] == 4 * 5 * 6


def test_the_conv_network_counts_the_same_through_its_dense_fold_and_on_conventional_hardware():
    """The float run of a conv model (compare's float backend) counts its dense fold's synapses,
    each spike once per tap within the window, as the hand-written NeuroBench count does; on
    conventional hardware its real-valued input multiplies."""
    import numpy as np

    from spikedeploy.metrics.backend_runs import run_float
    from spikedeploy.metrics.source_ops import count_source_ops

    net = _net().eval()
    x = (torch.rand(3, 10, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    run, _ = run_float("float", "float", net, x, np.zeros(3, dtype=np.int64), 1e-3, torch.device("cpu"), 2, 0, False)
    hand = conv_synops(net, x)
    syn = run.counts.synops.per_layer
    # conv_ops charges the lateral term on every spike; the run reads a step's spikes on the next
    # step (its recurrent weight), so the last step's spikes are not read within the window
    s = net(x.reshape(3, 10, 1, 6), return_spikes=True)[1][0]
    unread = float((s[:, -1] != 0).sum()) * 5 / 3
    assert syn["conv0"].acs_total / 3 == pytest.approx(hand["conv0"]["effective_acs"] - unread)
    assert syn["readout"].acs_total / 3 == pytest.approx(hand["readout"]["effective_acs"])
    assert run.counts.spikes.per_layer["conv0"].spikes / 3 == pytest.approx(hand["conv0"]["spikes"])
    ops = count_source_ops(net, torch.randn(3, 10, 6), name="conv")
    assert ops.per_layer["conv0"]["multiplications"] > 5 * 6 * 10           # the MACs and the updates
    assert ops.nonlinear == 0 and ops.name == "conv"
