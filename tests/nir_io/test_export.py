import os

import nir
import numpy as np
import pytest

from spikedeploy.errors import ConfigError, ConversionError, SpikedeployError
from spikedeploy.netspec import LayerSpec, NetworkSpec
from spikedeploy.nir_io import convention as cv
from spikedeploy.nir_io import (graph_metadata, read_config, read_loihi_network, read_nir, read_quantization,
                                spec_to_nir, write_nir)
from spikedeploy.nir_io.export import node_names

from .specs import leaky_readout_spec, mixed_spec


def test_written_graph_passes_nir_read_with_type_checking(tmp_path):
    path = write_nir(tmp_path / "net.nir", mixed_spec())
    graph = nir.read(path, type_check=True)
    graph.infer_types()
    assert graph.check_types() is True
    types = {k: type(v).__name__ for k, v in graph.nodes.items()}
    assert types == {"input": "Input", "cuba.synapse": "Affine", "cuba.neuron": "CubaLIF",
                     "cuba.recurrent": "Linear", "lif.synapse": "Affine", "lif.neuron": "LIF",
                     "if.synapse": "Affine", "if.neuron": "IF", "readout.synapse": "Affine",
                     "readout.neuron": "I", "output": "Output"}
    assert sorted(graph.edges) == sorted([
        ("input", "cuba.synapse"), ("cuba.synapse", "cuba.neuron"), ("cuba.neuron", "cuba.recurrent"),
        ("cuba.recurrent", "cuba.neuron"), ("cuba.neuron", "lif.synapse"), ("lif.synapse", "lif.neuron"),
        ("lif.neuron", "if.synapse"), ("if.synapse", "if.neuron"), ("if.neuron", "readout.synapse"),
        ("readout.synapse", "readout.neuron"), ("readout.neuron", "output")])
    assert list(graph.nodes["input"].input_type["input"]) == [20]
    assert list(graph.nodes["output"].output_type["output"]) == [4]
    assert graph.nodes["cuba.neuron"].metadata == {cv.NODE_KEY_LAYER: "cuba", cv.NODE_KEY_ROLE: "neuron"}
    assert graph.nodes["cuba.recurrent"].metadata[cv.NODE_KEY_ROLE] == "recurrent"


def test_continuous_parameters_follow_the_documented_mapping():
    spec = mixed_spec()
    dt = spec.dt
    g = spec_to_nir(spec)
    cuba, lif, integ, out = spec.layers
    n = g.nodes["cuba.neuron"]
    du, dv = cuba.du.astype(np.float64), cuba.dv.astype(np.float64)
    np.testing.assert_array_equal(n.tau_syn, dt / du)
    np.testing.assert_array_equal(n.tau_mem, dt / dv)
    np.testing.assert_array_equal(n.w_in, 1 / du)
    np.testing.assert_array_equal(n.r, 1 / dv)
    np.testing.assert_array_equal(n.v_leak, cuba.bias / dv)
    np.testing.assert_array_equal(n.v_threshold, cuba.vth)
    np.testing.assert_array_equal(n.v_reset, 0)
    assert n.tau_syn[0] == dt and n.w_in[0] == 1.0  # du = 1 neurons inside a CubaLIF
    np.testing.assert_array_equal(g.nodes["cuba.synapse"].weight, cuba.weight)
    np.testing.assert_array_equal(g.nodes["cuba.synapse"].bias, 0)  # bias is v_leak for du < 1
    np.testing.assert_array_equal(g.nodes["cuba.recurrent"].weight, cuba.rec_weight)
    # LIF (du = 1): bias in the Affine, v_leak 0; dv = 1 gives tau = dt, r = 1
    ln = g.nodes["lif.neuron"]
    np.testing.assert_array_equal(ln.tau, dt / lif.dv.astype(np.float64))
    assert ln.tau[0] == dt and ln.r[0] == 1.0
    np.testing.assert_array_equal(ln.v_leak, 0)
    np.testing.assert_array_equal(g.nodes["lif.synapse"].bias, lif.bias)
    # IF / I (dv = 0): r = 1/dt
    np.testing.assert_array_equal(g.nodes["if.neuron"].r, 1 / dt)
    np.testing.assert_array_equal(g.nodes["readout.neuron"].r, 1 / dt)
    np.testing.assert_array_equal(g.nodes["readout.synapse"].bias, out.bias)


def test_synapse_gain_moves_the_scaling_into_the_weights():
    spec = leaky_readout_spec()
    g = spec_to_nir(spec, input_gain="synapse")
    h, o = spec.layers
    dv = h.dv.astype(np.float64)
    assert type(g.nodes["h.neuron"]).__name__ == "LIF" and type(g.nodes["o.neuron"]).__name__ == "CubaLI"
    np.testing.assert_array_equal(g.nodes["h.neuron"].r, 1.0)
    np.testing.assert_array_equal(g.nodes["h.synapse"].weight, h.weight.astype(np.float64) / dv[:, None])
    np.testing.assert_array_equal(g.nodes["h.synapse"].bias, h.bias / dv)
    np.testing.assert_array_equal(g.nodes["h.recurrent"].weight, h.rec_weight.astype(np.float64) / dv[:, None])
    gain = (o.du.astype(np.float64) * o.dv.astype(np.float64))[:, None]
    np.testing.assert_array_equal(g.nodes["o.synapse"].weight, o.weight.astype(np.float64) / gain)
    np.testing.assert_array_equal(g.nodes["o.neuron"].w_in, 1.0)
    assert graph_metadata(g)[cv.KEY_INPUT_GAIN] == "synapse"


def test_metadata_keys_and_quantisation_stored_bit_for_bit(tmp_path):
    rng = np.random.default_rng(5)
    loihi = {"layers": [{"weight": rng.integers(-128, 128, (16, 20)).astype(np.int8), "weight_exp": -2,
                         "du": np.array([4095], np.int32), "vth": np.array([70000], np.int64),
                         "bias_mant": np.zeros(16, np.int16), "name": "cuba"}],
             "metadata": {}, "chip": "loihi2", "scale": 0.1, "none": None}
    config = {"model": {"neuron": "cuba-lif", "hidden": [16]}, "data": {"T": 20, "dataset": "shd"}}
    path = write_nir(tmp_path / "q.nir", mixed_spec(), loihi=loihi, config=config)
    graph = read_nir(path)
    meta = graph_metadata(graph)
    assert meta[cv.KEY_CONVENTION] == cv.CONVENTION == "spikedeploy-nir/1"
    assert meta[cv.KEY_DISCRETISATION] == cv.DISCRETISATION
    assert meta[cv.KEY_DT] == 1e-3 and meta[cv.KEY_READOUT] == "mean" and meta[cv.KEY_INPUT_GAIN] == "neuron"
    assert meta[cv.KEY_LAYERS] == ["cuba", "lif", "if", "readout"]
    assert meta[cv.KEY_WRITER].startswith("spikedeploy ")
    assert read_config(graph) == config
    assert read_loihi_network(read_nir(write_nir(tmp_path / "plain.nir", mixed_spec()))) is None
    q = read_quantization(graph)
    assert q.keys() == loihi.keys() and q["chip"] == "loihi2" and q["scale"] == 0.1 and q["none"] is None
    assert q["metadata"] == {}
    for key, value in loihi["layers"][0].items():
        got = q["layers"][0][key]
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and np.array_equal(got, value)
        else:
            assert got == value and type(got) is type(value)


def test_exporter_does_not_change_the_spec():
    spec = mixed_spec()
    before = {l.name: {k: None if v is None else v.copy() for k, v in l.to_dict().items() if k != "name"}
              for l in spec.layers}
    g = spec_to_nir(spec, input_gain="synapse")
    g.nodes["cuba.synapse"].weight[...] = 0  # the graph holds copies
    for l in spec.layers:
        for k, v in before[l.name].items():
            np.testing.assert_array_equal(getattr(l, k), v)


@pytest.mark.parametrize("kw, match", [
    (dict(du=[1.0, 0.0], dv=0.5, vth=1.0), r"du = 0 for neurons \[1\]"),
    (dict(du=1.0, dv=[0.0, 0.5], vth=1.0), r"dv = 0 for neurons \[0\] \(1 of 2\) but not for the others"),
    (dict(du=0.5, dv=0.0, vth=1.0), r"dv = 0 with du < 1"),
    (dict(du=1.0, dv=0.5, vth=None, rec_weight=np.eye(2)), "non-spiking layer has a recurrent weight"),
])
def test_layers_without_a_nir_form_are_refused_by_name(kw, match):
    spec = NetworkSpec(3, (LayerSpec("odd", np.ones((2, 3)), **kw),))
    with pytest.raises(ConversionError, match=match) as err:
        spec_to_nir(spec)
    assert err.value.node == "odd" and err.value.remedy


def test_nan_weights_are_refused_naming_the_layer(tmp_path):
    with pytest.raises(ConfigError, match="layer 'bad' field weight.*NaN"):
        LayerSpec("bad", np.full((2, 3), np.nan), du=1, dv=1, vth=1)
    # arrays stay mutable after construction: the exporter checks again
    spec = NetworkSpec(3, (LayerSpec("bad", np.ones((2, 3)), du=1, dv=0.5, vth=1),))
    spec.layers[0].weight[0, 1] = np.inf
    with pytest.raises(ConfigError, match="layer 'bad' field weight.*NaN or inf"):
        write_nir(tmp_path / "x.nir", spec)
    assert os.listdir(tmp_path) == []


def test_missing_folder_and_bad_options(tmp_path):
    with pytest.raises(SpikedeployError, match="does not exist") as err:
        write_nir(tmp_path / "no" / "such" / "net.nir", mixed_spec())
    assert "mkdir" in err.value.remedy
    with pytest.raises(ConfigError, match="input_gain"):
        spec_to_nir(mixed_spec(), input_gain="r")
    with pytest.raises(ConfigError, match="cannot store"):
        spec_to_nir(mixed_spec(), config={"f": object()})
    with pytest.raises(ConfigError, match="cannot be stored"):
        spec_to_nir(mixed_spec(), config={"a/b": 1})


def test_nothing_half_written_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "net.nir"
    target.write_bytes(b"old")

    def failing_write(filename, graph, **kw):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nir, "write", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_nir(target, mixed_spec())
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["net.nir"]


def test_failed_verification_leaves_nothing(tmp_path, monkeypatch):
    import spikedeploy.nir_io.load as load

    real = load.nir_to_spec

    def off_by_one_ulp(graph, *a, **kw):
        spec = real(graph, *a, **kw)
        spec.layers[1].weight[0, 0] = np.nextafter(spec.layers[1].weight[0, 0], np.float32(9))
        return spec

    monkeypatch.setattr(load, "nir_to_spec", off_by_one_ulp)
    with pytest.raises(ConversionError, match="field weight differs") as err:
        write_nir(tmp_path / "net.nir", mixed_spec())
    assert err.value.node == "lif" and os.listdir(tmp_path) == []


def test_node_names():
    assert node_names("h") == {"synapse": "h.synapse", "neuron": "h.neuron", "recurrent": "h.recurrent"}


def test_a_loihi_network_round_trips_through_the_metadata(tmp_path):
    ln = pytest.importorskip("spikedeploy.quant.loihi_network")
    spec = mixed_spec()
    rng = np.random.default_rng(0)
    layers, size = [], spec.input_size
    for l in spec.layers:
        n = l.n_out
        layers.append(ln.LoihiLayer(
            l.name, rng.integers(-128, 127, (n, size)) * 2, weight_exp=-1, du=rng.integers(0, 4096, n),
            dv=rng.integers(0, 4096, n), vth=None if l.vth is None else rng.integers(1, 1000, n),
            bias_mant=rng.integers(-100, 100, n), bias_exp=2, spiking=l.spiking,
            rec_weight=None if l.rec_weight is None else rng.integers(-128, 127, (n, n)) * 2))
        size = n
    net = ln.LoihiNetwork(spec.input_size, tuple(layers), metadata={"scales": [0.1, 0.2], "source": "test"})
    graph = read_nir(write_nir(tmp_path / "q.nir", spec, loihi=net))
    a, b = net.to_dict(), read_loihi_network(graph).to_dict()
    assert a.keys() == b.keys() and a["metadata"] == b["metadata"] and a["chip"] == b["chip"]
    for la, lb in zip(a["layers"], b["layers"]):
        assert la.keys() == lb.keys()
        for k, va in la.items():
            if isinstance(va, np.ndarray):
                assert va.dtype == lb[k].dtype and np.array_equal(va, lb[k]), (la["name"], k)
            else:
                assert va == lb[k] and type(va) is type(lb[k]), (la["name"], k)
