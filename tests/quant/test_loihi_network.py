"""LoihiNetwork: validation names the layer and field; decay groups; plain-data round trip."""

from __future__ import annotations

import numpy as np
import pytest

from spikedeploy.errors import ConfigError, QuantizationError, ShapeMismatchError
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

from .small_nets import delayed_net, recurrent_net


def layer(**over):
    kw = dict(name="hidden", weight=np.array([[2, -4], [6, 0], [-256, 254]]), weight_exp=0, du=100, dv=200,
              vth=1000, bias_mant=[0, -4096, 4095], bias_exp=3,
              rec_weight=np.array([[0, 2, 4], [2, 0, 2], [-2, -2, 0]]))
    kw.update(over)
    return LoihiLayer(**kw)


@pytest.mark.parametrize("field, value", [
    ("weight", np.array([[3, -4], [6, 0], [0, 0]])),          # odd weight in a mixed-sign matrix
    ("weight", np.array([[2, -4], [6, 0], [-258, 0]])),       # below -256
    ("weight", np.array([[300, 4], [6, 0], [0, 0]])),         # excitatory above 255
    ("weight", np.array([[2.0, -4.0], [6.0, 0.0], [0.0, 0.0]])),  # floats
    ("weight_exp", 8), ("weight_exp", -9),
    ("du", 4096), ("du", [0, -1, 5]), ("dv", [4096, 0, 0]),
    ("vth", 131072), ("vth", -1),
    ("bias_mant", [0, 4096, 0]), ("bias_mant", -4097),
    ("bias_exp", 8), ("bias_exp", -1),
    ("rec_weight", np.array([[0, 1, 0], [0, 0, 0], [0, 0, -2]])),
    ("rec_weight_exp", 9),
    ("num_weight_bits", 9), ("num_weight_bits", 0),
])
def test_out_of_range_field_names_layer_and_field(field, value):
    with pytest.raises(QuantizationError) as info:
        layer(**{field: value})
    assert info.value.layer == "hidden"
    assert info.value.field == field
    assert "hidden" in str(info.value) and field in str(info.value)


def test_grid_error_says_what_dense_would_do():
    with pytest.raises(QuantizationError, match=r"3 at \[0, 0\] would become 2"):
        layer(weight=np.array([[3, -4], [6, 0], [0, 0]]))
    # an all-positive matrix may use odd weights up to 255 (excitatory sign mode)
    assert layer(weight=np.array([[3, 5], [255, 0], [1, 0]])).sign_mode == "excitatory"
    # fewer weight bits make the grid coarser: mixed, 6 bits -> multiples of 8
    layer(weight=np.array([[8, -16], [248, 0], [-256, 0]]), num_weight_bits=6,
          rec_weight=np.array([[0, 8, 0], [0, 0, 0], [-8, 0, 0]]))
    with pytest.raises(QuantizationError):
        layer(weight=np.array([[4, -16], [248, 0], [-256, 0]]), num_weight_bits=6)


def test_shapes_and_structure():
    with pytest.raises(ShapeMismatchError):
        layer(du=[1, 2])
    with pytest.raises(ShapeMismatchError):
        layer(rec_weight=np.zeros((2, 2), dtype=int))
    with pytest.raises(QuantizationError, match="needs a threshold"):
        layer(vth=None)
    with pytest.raises(QuantizationError) as info:
        LoihiLayer("out", np.zeros((2, 3), dtype=int), 0, 4095, 0, vth=1000, spiking=False)
    assert info.value.field == "vth"
    ro = LoihiLayer("out", np.zeros((2, 3), dtype=int), 0, 4095, 0, vth=None, spiking=False)
    assert ro.vth.tolist() == [131071, 131071]
    with pytest.raises(ShapeMismatchError):
        LoihiNetwork(5, (layer(),))                      # hidden takes 2 inputs
    with pytest.raises(ConfigError, match="only the last layer"):
        LoihiNetwork(3, (ro, LoihiLayer("after", np.zeros((1, 2), dtype=int), 0, 0, 0, vth=1)))
    with pytest.raises(ConfigError, match="unique"):
        LoihiNetwork(2, (layer(), layer(weight=np.zeros((3, 3), dtype=int))))
    with pytest.raises(ConfigError, match="plain data"):
        LoihiNetwork(2, (layer(),), metadata={"bad": object()})
    with pytest.raises(QuantizationError, match="without rec_weight"):
        layer(rec_weight=None, rec_weight_exp=1)


def test_arrays_are_read_only_and_shared_exponent():
    l = layer()
    with pytest.raises(ValueError):
        l.weight[0, 0] = 4
    assert l.du.tolist() == [100, 100, 100] and l.weight.dtype == np.int32
    assert l.rec_weight_exp is None and l.rec_exp == 0         # shares weight_exp (netx)
    assert layer(rec_weight_exp=-2).rec_exp == -2


def test_decay_groups_follow_first_occurrence():
    l = layer(du=[7, 3, 7], dv=[1, 1, 1], vth=[10, 10, 10])
    groups = l.decay_groups()
    assert [(g.du, g.dv, g.vth, g.neurons.tolist()) for g in groups] == [(7, 1, 10, [0, 2]), (3, 1, 10, [1])]
    l = layer(du=[5, 5, 5], dv=[1, 1, 1], vth=[10, 11, 10])
    assert [g.neurons.tolist() for g in l.decay_groups()] == [[0, 2], [1]]
    assert len(layer().decay_groups()) == 1


def test_delays_round_trip_through_plain_dicts():
    net, _ = delayed_net()
    d = net.to_dict()
    assert d["layers"][0]["delays"].tolist() == [0, 2, 5] and "delays" not in recurrent_net()[0].to_dict()["layers"][0]
    back = LoihiNetwork.from_dict(d)
    assert [l.delays for l in back.layers] == [(0, 2, 5), (0, 3)] and back.layers[0].n_in == 12
    assert "delays [0, 2, 5]" in back.summary()


def test_round_trip_through_plain_dicts():
    net, _ = recurrent_net()
    d = net.to_dict()
    assert d["format"] == "spikedeploy.loihi_network" and d["version"] == 1
    assert all(isinstance(v, (np.ndarray, int, str, bool)) for l in d["layers"] for v in l.values())
    back = LoihiNetwork.from_dict(d)
    assert back.metadata == {"test": "recurrent_net", "seed": 0}
    assert back.layer_names == net.layer_names and back.input_size == 20
    for a, b in zip(net.layers, back.layers):
        for key in ("weight", "du", "dv", "vth", "bias_mant", "rec_weight"):
            x, y = getattr(a, key), getattr(b, key)
            assert (x is None and y is None) or np.array_equal(x, y)
        assert (a.weight_exp, a.rec_weight_exp, a.bias_exp, a.spiking, a.num_weight_bits) == \
            (b.weight_exp, b.rec_weight_exp, b.bias_exp, b.spiking, b.num_weight_bits)
    # numpy scalars (as an HDF5 reader returns them) are accepted
    d["layers"][0]["weight_exp"] = np.array(2)
    assert LoihiNetwork.from_dict(d).layers[0].weight_exp == 2
    with pytest.raises(ConfigError):
        LoihiNetwork.from_dict({**d, "format": "other"})
    with pytest.raises(ConfigError, match="newer"):
        LoihiNetwork.from_dict({**d, "version": 99})


def test_views():
    net, _ = recurrent_net()
    assert net.latency == 2 and net.depth("hidden") == 1 and net.depth("out") == 2
    assert net.output_size == 5 and net.readout.name == "out"
    assert net.with_metadata(extra=1).metadata["extra"] == 1 and "extra" not in net.metadata
    assert "2 decay group(s)" in net.summary()
    with pytest.raises(ConfigError):
        net.layer("nope")
