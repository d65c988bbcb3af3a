"""Core mapping against hand-computed partitions (no Lava needed)."""

import json

import numpy as np
import pytest

from spikedeploy.errors import MappingError
from spikedeploy.lava_backend.mapping import LayerConnectivity, connectivity, map_network

from ..quant.small_nets import delayed_net, recurrent_net


def _full(n, m):
    return np.ones((n, m), dtype=bool)


def test_small_recurrent_network_fits_with_hand_computed_loads():
    layers = [LayerConnectivity("hidden", _full(10, 6), _full(10, 10)), LayerConnectivity("out", _full(3, 10))]
    rep = map_network(layers, "loihi1")
    hidden, out = rep.layers
    assert (hidden.n_cores, out.n_cores, rep.total_cores) == (1, 1, 2)
    (c,) = hidden.cores
    # fan-in 6 inputs + 10 own neurons; 60 + 100 synapses; dense 16 x 10 x 8 bits = 160 B
    # (sparse would be 160 x (8 + ceil(log2 10) = 4) bits = 240 B); each neuron reaches the
    # readout's core and its own core: 2 output axons x 10 neurons
    assert (c.neurons, c.axons_in, c.synapses, c.synapse_bytes, c.encoding, c.axons_out) == \
        (10, 16, 160, 160, "dense", 20)
    (o,) = out.cores
    assert (o.neurons, o.axons_in, o.synapses, o.synapse_bytes, o.axons_out) == (3, 10, 30, 30, 0)
    assert hidden.limit == "none" and hidden.fan_in == 16 and hidden.recurrent
    assert rep.fits_one_chip is True and rep.chips_needed == 1 and rep.unchecked == ()
    assert rep.chip_checks["neurons_per_chip"] == {"needed": 13, "limit": 131072, "ok": True}
    assert rep.synapses == 190 and rep.synapse_bytes == 190
    json.dumps(rep.to_dict())
    assert "fits one chip: yes" in rep.format()


def test_sparse_encoding_wins_for_sparse_blocks():
    mask = np.zeros((4, 100), dtype=bool)
    mask[np.arange(4), np.arange(4)] = True          # 4 synapses over 4 distinct inputs
    rep = map_network([LayerConnectivity("l", mask)], "loihi1")
    (c,) = rep.layers[0].cores
    # dense: 4 axons x 4 neurons x 8 bits = 16 B; sparse: 4 x (8 + 2) bits = 40 bits -> 5 B
    assert (c.axons_in, c.synapse_bytes, c.encoding) == (4, 5, "sparse")


def test_neurons_per_core_splits_a_layer():
    rep = map_network([LayerConnectivity("wide", _full(2500, 1)), LayerConnectivity("out", _full(2, 2500))], "loihi1")
    wide, out = rep.layers
    assert wide.n_cores == 3 and [c.neurons for c in wide.cores] == [833, 834, 833]
    assert wide.limit == "neurons_per_core"
    assert out.n_cores == 1 and out.cores[0].axons_in == 2500


def test_synaptic_memory_splits_a_layer_and_unpublished_limits_are_unchecked():
    # 300 neurons x 1000 inputs, dense 8-bit: 1000 B per neuron; 131072 B per core -> at most
    # 131 neurons per core, so 3 cores of 100 (2 cores of 150 would need 150000 B)
    rep = map_network([LayerConnectivity("dense", _full(300, 1000))], "loihi2")
    (layer,) = rep.layers
    assert layer.n_cores == 3 and [c.synapse_bytes for c in layer.cores] == [100_000] * 3
    assert layer.limit == "synaptic_memory_bytes_per_core"
    assert rep.unchecked == ("axons_in_per_core", "axons_out_per_core")
    assert set(layer.unchecked) == {"axons_in_per_core", "axons_out_per_core"}
    assert "unchecked (the chip does not publish these limits): axons_in_per_core, axons_out_per_core" in rep.format()


def test_fan_out_counts_destination_cores():
    mask = np.zeros((2048, 2), dtype=bool)     # the next layer has 2 cores of 1024 neurons
    mask[:1024, 0] = True                      # neuron 0 reaches the first core only
    mask[:, 1] = True                          # neuron 1 reaches both
    rep = map_network([LayerConnectivity("a", _full(2, 1)), LayerConnectivity("b", mask)], "loihi1")
    assert rep.layers[1].n_cores == 2
    assert rep.layers[0].cores[0].axons_out == 1 + 2


def test_fan_in_over_the_limit_names_the_layer_and_the_limit():
    with pytest.raises(MappingError) as info:
        map_network([LayerConnectivity("big", _full(3, 5000)), LayerConnectivity("out", _full(2, 3))], "loihi1")
    err = info.value
    assert (err.layer, err.limit, err.needed, err.available) == ("big", "axons_in_per_core", 5000, 4096)
    assert "fan-in" in str(err)
    # Loihi 2 publishes no fan-in limit: the same layer maps, with the limit unchecked
    rep = map_network([LayerConnectivity("big", _full(3, 5000)), LayerConnectivity("out", _full(2, 3))], "loihi2")
    assert rep.layers[0].n_cores == 1 and "axons_in_per_core" in rep.unchecked


def test_synapses_of_one_neuron_over_a_core_names_the_memory_limit():
    with pytest.raises(MappingError) as info:
        map_network([LayerConnectivity("fat", _full(2, 140_000))], "loihi2")     # 140000 B > 131072 B
    assert (info.value.layer, info.value.limit) == ("fat", "synaptic_memory_bytes_per_core")


def test_more_cores_than_one_chip_is_reported_not_refused():
    rep = map_network([LayerConnectivity("huge", _full(140_000, 1))], "loihi1")
    assert rep.total_cores == 137 and rep.fits_one_chip is False and rep.chips_needed == 2
    assert rep.chip_checks["cores_per_chip"] == {"needed": 137, "limit": 128, "ok": False}
    assert rep.chip_checks["neurons_per_chip"]["ok"] is False
    assert "fits one chip: no (2 chips by core count)" in rep.format()


def test_connectivity_of_an_integer_network_and_its_float_spec():
    net, _ = recurrent_net()
    layers = connectivity(net)
    assert [l.name for l in layers] == ["hidden", "out"]
    assert layers[0].synapses == int((net.layers[0].weight != 0).sum() + (net.layers[0].rec_weight != 0).sum())
    assert layers[0].rec_mask is not None and layers[1].rec_mask is None
    rep = map_network(net, "loihi2")
    assert rep.total_cores == 2 and rep.layers[0].fan_in == 20 + 16


def test_delayed_taps_count_every_synapse_share_axons_and_meet_the_delay_limit():
    # 2 neurons, 3 inputs, taps at delays 0 and 5: one axon per input, a synapse per tap
    mask = np.array([[1, 1, 0, 1, 0, 0], [0, 1, 0, 0, 1, 0]], dtype=bool)
    rep = map_network([LayerConnectivity("conv", mask, delays=(0, 5))], "loihi1")
    (c,) = rep.layers[0].cores
    # axons: inputs 0 and 1; synapses: 5; dense 2 axons x 2 neurons x 2 taps x (8 + 3 delay bits) = 88 bits
    # = 11 B, sparse 5 x (8 + 3 + 1) = 60 bits = 8 B
    assert (c.axons_in, c.synapses, c.synapse_bytes, c.encoding) == (2, 5, 8, "sparse")
    assert rep.layers[0].max_delay == 5 and "conv 5; limit 62" in rep.format()
    with pytest.raises(MappingError) as err:
        map_network([LayerConnectivity("conv", mask, delays=(0, 63))], "loihi1")
    assert (err.value.layer, err.value.limit, err.value.needed, err.value.available) == \
        ("conv", "max_synaptic_delay", 63, 62)
    net, _ = delayed_net()
    layers = connectivity(net)
    assert layers[0].delays == (0, 2, 5) and layers[0].n_in == 12
    assert map_network(net, "loihi2").synapses == int((net.layers[0].weight != 0).sum()
                                                     + (net.layers[0].rec_weight != 0).sum()
                                                     + (net.layers[1].weight != 0).sum())
