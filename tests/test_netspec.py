import numpy as np
import pytest

from spikedeploy.errors import ConfigError, ShapeMismatchError
from spikedeploy.netspec import LayerSpec, NetworkSpec


def _net():
    hidden = LayerSpec("hidden", np.arange(12, dtype=np.float32).reshape(3, 4), du=0.25,
                       dv=[0.5, 0.25, 1.0], vth=1.5, rec_weight=np.eye(3))
    out = LayerSpec("out", np.ones((2, 3)), du=1.0, dv=0.0, vth=None, bias=[0.1, -0.1])
    return NetworkSpec(4, (hidden, out), readout="mean", dt=0.01, metadata={"k": 1})


def test_round_trip_through_plain_dict():
    net = _net()
    again = NetworkSpec.from_dict(net.to_dict())
    assert again.readout == "mean" and again.dt == 0.01 and again.metadata == {"k": 1}
    for a, b in zip(net.layers, again.layers):
        assert a.name == b.name and a.spiking == b.spiking and a.recurrent == b.recurrent
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.dv, b.dv)
        np.testing.assert_array_equal(a.bias, b.bias)
    np.testing.assert_array_equal(again.layers[0].du, np.full(3, 0.25, np.float32))
    assert again.layers[1].vth is None and again.output_size == 2


def test_shape_and_value_errors_name_the_layer():
    with pytest.raises(ShapeMismatchError, match="layer 'h' input"):
        NetworkSpec(5, (LayerSpec("h", np.ones((2, 4)), du=1, dv=1, vth=1),))
    with pytest.raises(ConfigError, match="layer 'h' field dv"):
        LayerSpec("h", np.ones((2, 4)), du=1, dv=1.5, vth=1)
    with pytest.raises(ConfigError, match="NaN"):
        LayerSpec("h", np.full((2, 4), np.nan), du=1, dv=1, vth=1)
    with pytest.raises(ShapeMismatchError, match="rec_weight"):
        LayerSpec("h", np.ones((2, 4)), du=1, dv=1, vth=1, rec_weight=np.ones((3, 3)))
    with pytest.raises(ConfigError, match="readout"):
        NetworkSpec(4, (LayerSpec("h", np.ones((2, 4)), du=1, dv=1, vth=None),), readout="sum")


def test_delayed_taps_sit_side_by_side_and_round_trip():
    taps = LayerSpec("conv", np.arange(12, dtype=np.float32).reshape(2, 6), du=1, dv=0.5, vth=1, delays=(0, 1, 4))
    assert taps.n_in == 2 and taps.delayed and [d for d, _ in taps.taps()] == [0, 1, 4]
    np.testing.assert_array_equal(taps.taps()[2][1], [[4, 5], [10, 11]])
    net = NetworkSpec(2, (taps, LayerSpec("out", np.ones((1, 2)), du=1, dv=0, vth=None)))
    again = NetworkSpec.from_dict(net.to_dict())
    assert again.layers[0].delays == (0, 1, 4) and not again.layers[1].delayed
    assert "delays" not in net.to_dict()["layers"][1]
    with pytest.raises(ShapeMismatchError, match="taps x inputs"):
        LayerSpec("conv", np.ones((2, 5)), du=1, dv=1, vth=1, delays=(0, 1))
    with pytest.raises(ConfigError, match="integers >= 0"):
        LayerSpec("conv", np.ones((2, 4)), du=1, dv=1, vth=1, delays=(0, -1))
