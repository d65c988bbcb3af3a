import warnings

import h5py
import nir
import numpy as np
import pytest
import torch

from spikedeploy.errors import ConfigError, ConversionError, DataFormatError
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.nir_io import (DEFAULT_DT, NirImportWarning, load_nir, nir_to_spec, read_nir, spec_to_nir,
                                write_nir)
from spikedeploy.nir_io.load import LinearOp

from .specs import leaky_readout_spec, mixed_spec, spikes

FIELDS = ("weight", "du", "dv", "vth", "bias", "rec_weight")


def assert_same_spec(a, b):
    assert (a.input_size, a.readout, a.dt) == (b.input_size, b.readout, b.dt)
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    for x, y in zip(a.layers, b.layers):
        for f in FIELDS:
            u, v = getattr(x, f), getattr(y, f)
            assert (u is None) == (v is None), (x.name, f)
            if u is not None:
                assert u.dtype == v.dtype == np.float32
                assert np.array_equal(u.view(np.uint32), v.view(np.uint32)), (x.name, f)  # bit for bit


@pytest.mark.parametrize("make", [mixed_spec, leaky_readout_spec])
@pytest.mark.parametrize("gain", ["neuron", "synapse"])
def test_round_trip_is_bit_exact_and_keeps_metadata(tmp_path, make, gain):
    spec = make()
    path = write_nir(tmp_path / "net.nir", spec, input_gain=gain, verify=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # our own graphs need no assumption
        again = load_nir(path)
    assert_same_spec(spec, again)
    assert again.metadata == spec.metadata
    # and the float simulator gives the same outputs on held-out input, bit for bit
    x = spikes(7, 4, 60, spec.input_size)
    a, b = SpecNetwork(spec).run(x), SpecNetwork(again).run(x)
    assert all(torch.equal(p, q) for p, q in zip(a.outputs, b.outputs))
    assert torch.equal(a.logits, b.logits)
    assert a.outputs[0].mean() > 0.02  # the network does spike


def _hand_graph(with_metadata=False):
    """Input(3) -> Affine -> CubaLIF (recurrent via Linear) -> Affine -> LI -> Output(2); dt-free values."""
    w1 = np.array([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]])
    w_rec = np.array([[0.0, 1.5], [-0.5, 0.0]])
    w2 = np.array([[2.0, -1.0], [0.5, 0.5]])
    nodes = {
        "in": nir.Input(input_type=np.array([3])),
        "fc1": nir.Affine(weight=w1, bias=np.zeros(2)),
        "cuba": nir.CubaLIF(tau_syn=np.array([2.0 ** -8, 2.0 ** -10]), tau_mem=np.array([2.0 ** -6, 2.0 ** -7]),
                            r=np.array([4.0, 2.0]), v_leak=np.array([1.0, -2.0]),
                            v_threshold=np.array([1.0, 0.5]), w_in=np.array([2.0, 1.0])),
        "rec": nir.Linear(weight=w_rec),
        "fc2": nir.Affine(weight=w2, bias=np.array([0.5, -0.25])),
        "li": nir.LI(tau=np.array([2.0 ** -9, 2.0 ** -10]), r=np.array([1.0, 3.0]), v_leak=np.array([0.0, 1.0])),
        "out": nir.Output(output_type=np.array([2])),
    }
    edges = [("in", "fc1"), ("fc1", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "fc2"),
             ("fc2", "li"), ("li", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges), dict(w1=w1, w_rec=w_rec, w2=w2)


def test_hand_built_graph_loads_into_the_expected_spec():
    graph, w = _hand_graph()
    dt = 2.0 ** -10
    spec = nir_to_spec(graph, dt=dt)
    cuba, li = spec.layers
    assert (spec.input_size, spec.readout, spec.dt) == (3, "last", dt) and [cuba.name, li.name] == ["cuba", "li"]
    # du = dt/tau_syn, dv = dt/tau_mem
    np.testing.assert_array_equal(cuba.du, [0.25, 1.0])
    np.testing.assert_array_equal(cuba.dv, [1 / 16, 1 / 8])
    # gain = du * w_in * dv * r = [0.25*2*(1/16)*4, 1*1*(1/8)*2] = [0.125, 0.25]
    gain = np.array([0.125, 0.25])
    np.testing.assert_array_equal(cuba.weight, gain[:, None] * w["w1"])
    np.testing.assert_array_equal(cuba.rec_weight, gain[:, None] * w["w_rec"])
    np.testing.assert_array_equal(cuba.bias, [1 / 16 * 1.0, 1 / 8 * -2.0])  # dv * v_leak
    np.testing.assert_array_equal(cuba.vth, [1.0, 0.5])
    # LI: du = 1, dv = dt/tau = [0.5, 1], gain = dv * r = [0.5, 3]; Affine bias (du = 1: exact) * gain + dv v_leak
    np.testing.assert_array_equal(li.du, [1.0, 1.0])
    np.testing.assert_array_equal(li.dv, [0.5, 1.0])
    np.testing.assert_array_equal(li.weight, np.array([[0.5], [3.0]]) * w["w2"])
    np.testing.assert_array_equal(li.bias, [0.5 * 0.5, 3.0 * -0.25 + 1.0 * 1.0])
    assert li.vth is None and li.rec_weight is None
    assert spec.metadata == {"nir_import": {"dt": dt, "dt_assumed": False, "approximations": []}}


def test_graph_without_dt_uses_the_documented_default_with_a_warning():
    graph, _ = _hand_graph()
    graph.nodes["cuba"].tau_syn = np.array([4e-3, 1e-3])
    graph.nodes["cuba"].tau_mem = np.array([2e-2, 1e-2])
    graph.nodes["li"].tau = np.array([1e-3, 2e-3])
    with pytest.warns(NirImportWarning, match=r"assuming dt = 0.001 s"):
        spec = nir_to_spec(graph)
    assert spec.dt == DEFAULT_DT == 1e-3
    np.testing.assert_allclose(spec.layers[0].du, [0.25, 1.0])
    np.testing.assert_allclose(spec.layers[0].dv, [0.05, 0.1])
    assert spec.metadata["nir_import"]["dt_assumed"] is True


def test_our_graph_read_with_another_dt_warns():
    g = spec_to_nir(leaky_readout_spec())
    with pytest.warns(NirImportWarning, match="made for dt = 0.0005"):
        spec = nir_to_spec(g, dt=2.5e-4)
    np.testing.assert_allclose(spec.layers[0].dv, leaky_readout_spec().layers[0].dv / 2, rtol=1e-6)


def test_unsupported_node_names_it_and_the_remedy():
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([1, 4, 4])),
                            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                  padding=np.array([0, 0])),
                            "out": nir.Output(output_type=np.array([1, 2, 2]))},
                     edges=[("in", "pool"), ("pool", "out")], type_check=False)
    with pytest.raises(ConversionError) as err:        # a shaped input is read flat; the pool has no converter
        nir_to_spec(g, dt=1e-3)
    assert (err.value.node, err.value.node_type) == ("pool", "SumPool2d")
    assert "no converter" in err.value.problem and "converters=" in err.value.remedy and "CubaLIF" in err.value.remedy


def test_a_user_converter_extends_the_registry():
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([2])),
                            "pool": nir.SumPool2d(kernel_size=np.array([1]), stride=np.array([1]),
                                                  padding=np.array([0])),
                            "li": nir.LI(tau=np.ones(2), r=np.ones(2) * 1e3, v_leak=np.zeros(2)),
                            "out": nir.Output(output_type=np.array([2]))},
                     edges=[("in", "pool"), ("pool", "li"), ("li", "out")], type_check=False)
    spec = nir_to_spec(g, dt=1e-3, converters={
        nir.SumPool2d: lambda name, node, ctx: [LinearOp(name, "SumPool2d", np.eye(ctx.size) * 2)]})
    np.testing.assert_allclose(spec.layers[0].weight, np.eye(2) * 2, rtol=1e-6)


def _lif(n=2, **kw):
    p = dict(tau=np.full(n, 1e-2), r=np.full(n, 10.0), v_leak=np.zeros(n), v_threshold=np.ones(n))
    p.update(kw)
    return nir.LIF(**p)


def _chain(*middle, in_shape=(2,)):
    nodes = {"in": nir.Input(input_type=np.array(in_shape))}
    nodes.update(middle)
    last = list(nodes.values())[-1]
    nodes["out"] = nir.Output(output_type=np.array(last.output_type["output"]))
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def test_v_reset_strict_and_non_strict():
    g = _chain(("lif", _lif(v_reset=np.array([0.0, -0.5]))))
    with pytest.raises(ConversionError, match="v_reset != 0") as err:
        nir_to_spec(g, dt=1e-3)
    assert err.value.node == "lif" and "strict=False" in err.value.remedy
    with pytest.warns(NirImportWarning, match="starts at v_reset instead of 0"):
        spec = nir_to_spec(g, dt=1e-3, strict=False)
    layer = spec.layers[0]
    np.testing.assert_allclose(layer.vth, [1.0, 1.5])                     # vth - v_reset
    np.testing.assert_allclose(layer.bias, [0.0, 0.1 * 0.5], rtol=1e-6)   # - dv * v_reset
    assert spec.metadata["nir_import"]["approximations"][0].startswith("node 'lif' (LIF): v_reset")


def test_affine_bias_into_a_cuba_neuron_strict_and_non_strict():
    cuba = nir.CubaLIF(tau_syn=np.full(2, 4e-3), tau_mem=np.full(2, 1e-2), r=np.full(2, 10.0),
                       v_leak=np.zeros(2), v_threshold=np.ones(2), w_in=np.full(2, 4.0))
    g = _chain(("fc", nir.Affine(weight=np.eye(2), bias=np.array([0.0, 0.3]))), ("cuba", cuba))
    with pytest.raises(ConversionError, match="constant input current"):
        nir_to_spec(g, dt=1e-3)
    with pytest.warns(NirImportWarning, match="steady state"):
        spec = nir_to_spec(g, dt=1e-3, strict=False)
    np.testing.assert_allclose(spec.layers[0].bias, [0.0, 0.3 / 0.25], rtol=1e-6)  # gain*b/du, gain = 1
    # with du = 1 (tau_syn = dt) the same bias is exact: no error
    cuba.tau_syn = np.full(2, 1e-3)
    cuba.w_in = np.ones(2)
    np.testing.assert_allclose(nir_to_spec(g, dt=1e-3).layers[0].bias, [0.0, 0.3], rtol=1e-6)


def test_forward_euler_overshoot_strict_and_non_strict():
    g = _chain(("lif", _lif(tau=np.array([1e-2, 5e-4]))))
    with pytest.raises(ConversionError, match=r"dt / tau = 2 > 1") as err:
        nir_to_spec(g, dt=1e-3)
    assert "dt <= 0.0005" in err.value.remedy
    with pytest.warns(NirImportWarning, match="clamped to 1"):
        spec = nir_to_spec(g, dt=1e-3, strict=False)
    np.testing.assert_allclose(spec.layers[0].dv, [0.1, 1.0], rtol=1e-6)


def test_delays_become_the_layers_taps_and_fractional_steps_are_refused():
    g = _chain(("d", nir.Delay(delay=np.zeros(2))), ("lif", _lif()))
    layer = nir_to_spec(g, dt=1e-3).layers[0]
    assert layer.weight.tolist() == [[1.0, 0.0], [0.0, 1.0]] and layer.delays == (0,)
    # per-element delays: one tap per distinct delay, each holding its elements
    g = _chain(("d", nir.Delay(delay=np.array([0.0, 2e-3]))), ("lif", _lif()))
    layer = nir_to_spec(g, dt=1e-3).layers[0]
    assert layer.delays == (0, 2)
    assert layer.weight.tolist() == [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    g = _chain(("d", nir.Delay(delay=np.array([0.0, 1.5e-3]))), ("lif", _lif()))
    with pytest.raises(ConversionError, match="not whole steps"):
        nir_to_spec(g, dt=1e-3)
    with pytest.warns(NirImportWarning, match="rounded to whole steps"):
        assert nir_to_spec(g, dt=1e-3, strict=False).layers[0].delays == (0, 2)


def test_scale_flatten_if_i_threshold_and_a_trailing_affine():
    g = _chain(("flat", nir.Flatten(input_type={"input": np.array([1, 3])}, start_dim=0)),
               ("scale", nir.Scale(scale=np.array([1.0, 2.0, 4.0]))),
               ("fc", nir.Linear(weight=np.ones((2, 3)))),
               ("if", nir.IF(r=np.full(2, 500.0), v_threshold=np.ones(2))),
               ("thr", nir.Threshold(threshold=np.array([0.25, 0.5]))),
               ("i", nir.I(r=np.full(2, 2000.0))),
               ("head", nir.Affine(weight=np.array([[1.0, -1.0]]), bias=np.array([0.5]))), in_shape=(1, 3))
    spec = nir_to_spec(g, dt=1e-3)
    if_, thr, i, head = spec.layers
    np.testing.assert_allclose(if_.weight, 0.5 * np.array([[1.0, 2.0, 4.0]] * 2))  # dt * r = 0.5
    assert (if_.du.tolist(), if_.dv.tolist(), if_.vth.tolist()) == ([1, 1], [0, 0], [1, 1])
    assert (thr.du.tolist(), thr.dv.tolist(), thr.vth.tolist()) == ([1, 1], [1, 1], [0.25, 0.5])
    assert i.vth is None and i.dv.tolist() == [0, 0] and np.allclose(i.weight, 2 * np.eye(2))
    assert head.name == "head" and head.vth is None and head.du.tolist() == [1] and head.dv.tolist() == [1]
    assert head.weight.tolist() == [[1.0, -1.0]] and head.bias.tolist() == [0.5]
    assert spec.input_size == 3


def test_snntorch_style_recurrent_subgraph_reads_like_the_flat_form():
    flat = spec_to_nir(leaky_readout_spec())
    sub = {"input": nir.Input(input_type=np.array([9])), "lif": flat.nodes["h.neuron"],
           "w_rec": flat.nodes["h.recurrent"], "output": nir.Output(output_type=np.array([9]))}
    rsub = nir.NIRGraph(nodes=sub, edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    nodes = {"input": flat.nodes["input"], "fc": flat.nodes["h.synapse"], "rlif": rsub,
             "fc2": flat.nodes["o.synapse"], "li": flat.nodes["o.neuron"], "output": flat.nodes["output"]}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "rlif"), ("rlif", "fc2"), ("fc2", "li"),
                                         ("li", "output")], type_check=False)
    spec = nir_to_spec(g, dt=5e-4, readout="max")
    assert_same_spec(leaky_readout_spec(), spec)


def test_parallel_linear_paths_add_and_graphs_that_are_not_layer_stacks_are_refused():
    # parallel linear paths that rejoin at a neuron add up (NIR sums a node's inputs)
    nodes = {"in": nir.Input(input_type=np.array([2])), "a": nir.Linear(weight=np.eye(2)),
             "b": nir.Linear(weight=np.array([[0.0, 3.0], [0.0, 0.0]])), "lif": _lif(),
             "out": nir.Output(output_type=np.array([2]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "a"), ("in", "b"), ("a", "lif"), ("b", "lif"), ("lif", "out")])
    assert nir_to_spec(g, dt=1e-3).layers[0].weight.tolist() == [[1.0, 3.0], [0.0, 1.0]]
    # a skip connection over a neuron: in -> l1 -> l2 and in -> l2
    nodes = {"in": nir.Input(input_type=np.array([2])), "l1": _lif(), "l2": _lif(),
             "out": nir.Output(output_type=np.array([2]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "l1"), ("in", "l2"), ("l1", "l2"), ("l2", "out")])
    with pytest.raises(ConversionError, match="is a neuron on a branch") as err:
        nir_to_spec(g, dt=1e-3)
    assert err.value.node == "l1"
    # a loop from layer 2 back to layer 1
    nodes = {"in": nir.Input(input_type=np.array([2])), "l1": _lif(), "fc": nir.Linear(weight=np.eye(2)),
             "l2": _lif(), "back": nir.Linear(weight=np.eye(2)), "out": nir.Output(output_type=np.array([2]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "l1"), ("l1", "fc"), ("fc", "l2"), ("l2", "back"),
                                         ("back", "l1"), ("l2", "out")])
    with pytest.raises(ConversionError, match="not of the form neuron -> linear nodes -> the same neuron"):
        nir_to_spec(g, dt=1e-3)


def test_bad_parameters_are_named():
    g = _chain(("fc", nir.Affine(weight=np.array([[np.nan, 1.0], [0.0, 1.0]]), bias=np.zeros(2))), ("lif", _lif()))
    with pytest.raises(ConversionError, match=r"node 'fc' \(Affine\): weight contains NaN"):
        nir_to_spec(g, dt=1e-3)
    g = _chain(("lif", _lif(v_threshold=np.array([1.0, -1.0]))))
    with pytest.raises(ConversionError, match=r"node 'lif' \(LIF\): thresholds must lie above"):
        nir_to_spec(g, dt=1e-3)
    g = _chain(("lif", _lif(tau=np.array([1e-2, -5.0]))))
    with pytest.raises(ConversionError, match="tau must be positive") as err:
        nir_to_spec(g, dt=1e-3)
    assert "positive number of seconds" in err.value.remedy and "'lif'" in err.value.remedy
    with pytest.raises(ConfigError, match="dt"):
        nir_to_spec(g, dt=-1.0)
    with pytest.raises(ConfigError, match="NIRGraph"):
        nir_to_spec(_lif(), dt=1e-3)


def test_corrupt_and_foreign_files_raise_data_format_errors(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_nir(tmp_path / "missing.nir")
    text = tmp_path / "model.nir"
    text.write_text("not a graph")
    with pytest.raises(DataFormatError, match="not an HDF5 file") as err:
        read_nir(text)
    assert err.value.path == text
    other = tmp_path / "data.h5"
    with h5py.File(other, "w") as f:
        f["spikes"] = np.zeros(3)
    with pytest.raises(DataFormatError, match="nir.read cannot read it") as err:
        load_nir(other)
    assert err.value.path == other
    good = write_nir(tmp_path / "good.nir", mixed_spec())
    truncated = tmp_path / "truncated.nir"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(DataFormatError) as err:
        read_nir(truncated)
    assert err.value.path == truncated


# ----------------------------------------------------------------------------- stale integers

def _quantized_graph(tmp_path):
    from spikedeploy.nir_io.export import write_nir
    from spikedeploy.quant.ptq import QuantConfig, quantize

    spec = mixed_spec()
    net, _ = quantize(spec, spikes(0, 16, 10, spec.input_size), config=QuantConfig(allow_approx=True))
    return write_nir(tmp_path / "q.nir", spec, loihi=net), spec


def _edited(path, out, node, field, delta):
    graph = nir.read(path)
    getattr(graph.nodes[node], field)[0] = getattr(graph.nodes[node], field)[0] + delta
    nir.write(out, graph)
    return read_nir(out)


def test_stored_integers_made_from_other_float_parameters_are_refused(tmp_path):
    from spikedeploy.nir_io import read_loihi_network
    from spikedeploy.nir_io.load import check_quantized_from

    path, spec = _quantized_graph(tmp_path)
    assert check_quantized_from(read_nir(path)) is True
    assert read_loihi_network(read_nir(path)).layer_names == tuple(l.name for l in spec.layers)
    first = spec.layers[0].name
    for node, field, what in ((f"{first}.synapse", "weight", "weight"), (f"{first}.neuron", "v_threshold", "vth")):
        graph = _edited(path, tmp_path / f"edited-{what}.nir", node, field, 0.25)
        with pytest.raises(ConversionError, match=f"its {what} is not the one the stored Loihi integers") as err:
            read_loihi_network(graph)
        assert err.value.node == node and "export-nir" in err.value.remedy


def test_a_graph_without_digests_is_read_as_before(tmp_path):
    from spikedeploy.nir_io import read_loihi_network
    from spikedeploy.nir_io.convention import KEY_QUANTIZED_FROM
    from spikedeploy.nir_io.load import check_quantized_from
    from spikedeploy.nir_io.metadata_codec import decode, encode

    path, _ = _quantized_graph(tmp_path)
    graph = nir.read(path)
    meta = decode(dict(graph.metadata))
    meta.pop(KEY_QUANTIZED_FROM)
    graph.metadata = encode(meta)
    nir.write(tmp_path / "old.nir", graph)
    old = read_nir(tmp_path / "old.nir")
    assert check_quantized_from(old) is False and read_loihi_network(old) is not None
