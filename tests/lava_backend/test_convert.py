"""The NIR -> Lava converter registry: what each node becomes, refusals, extension.

Hand-built graphs with nir's own node classes (not our exporter), continuous parameters, no metadata.
"""

import warnings

import nir
import numpy as np
import pytest

from spikedeploy.errors import ConversionError
from spikedeploy.lava_backend.convert import (LAVA_CONVERTERS, ROLE_DENSE, ROLE_NEURONS, ROLE_PASS, ROLE_PROBE,
                                              ROLE_READOUT, ROLE_SOURCE, LavaTarget, check_stored_network,
                                              convert_graph)
from spikedeploy.nir_io import NirImportWarning, nir_to_spec
from spikedeploy.nir_io import load as nir_load
from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

DT = 2.0 ** -10


def hand_graph(n_in=3, seed=0, scale=1.0):
    """Input -> Affine -> CubaLIF (recurrent via Linear) -> Affine -> LI -> Output, dt-free values."""
    rng = np.random.default_rng(seed)
    n_h, n_o = 4, 2
    nodes = {
        "in": nir.Input(input_type=np.array([n_in])),
        "fc1": nir.Affine(weight=rng.normal(0, 1.5, (n_h, n_in)) * scale, bias=np.zeros(n_h)),
        "cuba": nir.CubaLIF(tau_syn=np.array([2.0 ** -8, 2.0 ** -10, 2.0 ** -9, 2.0 ** -8]),
                            tau_mem=np.array([2.0 ** -6, 2.0 ** -7, 2.0 ** -6, 2.0 ** -5]),
                            r=np.array([4.0, 2.0, 3.0, 8.0]), v_leak=np.zeros(n_h),
                            v_threshold=np.array([1.0, 0.5, 0.8, 1.2]), w_in=np.array([2.0, 1.0, 1.5, 1.0])),
        "rec": nir.Linear(weight=rng.normal(0, 0.8, (n_h, n_h))),
        "fc2": nir.Affine(weight=rng.normal(0, 1.0, (n_o, n_h)), bias=np.array([0.5, -0.25])),
        "li": nir.LI(tau=np.array([2.0 ** -9, 2.0 ** -10]), r=np.array([1.0, 3.0]), v_leak=np.array([0.0, 1.0])),
        "out": nir.Output(output_type=np.array([n_o])),
    }
    edges = [("in", "fc1"), ("fc1", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "fc2"),
             ("fc2", "li"), ("li", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_each_node_gets_its_lava_role_and_the_numbers_are_nir_ios():
    graph = hand_graph()
    plan = convert_graph(graph, DT)
    roles = {n.name: (n.target.role, n.layer, n.recurrent) for n in plan.nodes}
    assert roles == {"in": (ROLE_SOURCE, None, False), "fc1": (ROLE_DENSE, "cuba", False),
                     "cuba": (ROLE_NEURONS, "cuba", False), "rec": (ROLE_DENSE, "cuba", True),
                     "fc2": (ROLE_DENSE, "li", False), "li": (ROLE_READOUT, "li", False),
                     "out": (ROLE_PROBE, None, False)}
    assert [(l.name, l.synapse_nodes, l.neuron_node, l.recurrent_nodes, l.spiking) for l in plan.layers] == \
        [("cuba", ("fc1",), "cuba", ("rec",), True), ("li", ("fc2",), "li", (), False)]
    # the registry reuses nir_io's reading: the same float network, bit for bit
    ref = nir_to_spec(graph, DT)
    for a, b in zip(plan.spec.layers, ref.layers):
        for f in ("weight", "du", "dv", "bias", "rec_weight"):
            x, y = getattr(a, f), getattr(b, f)
            assert (x is None and y is None) or np.array_equal(x, y), f
    # du = dt / tau_syn = [1/4, 1, 1/2, 1/4]: what the decay groups will be made of
    np.testing.assert_array_equal(plan.spec.layers[0].du, [0.25, 1.0, 0.5, 0.25])
    text = plan.describe()
    assert "recurrent connection of 'cuba'" in text and "non-spiking LIFReset" in text


def test_recurrence_inside_a_subgraph_is_found():
    """snntorch's form: the neuron and its recurrent Linear in a subgraph."""
    g = hand_graph()
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "lif": g.nodes["cuba"],
                              "w_rec": g.nodes["rec"], "output": nir.Output(output_type=np.array([4]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    nodes = {k: v for k, v in g.nodes.items() if k not in ("cuba", "rec")}
    nodes["layer1"] = sub
    edges = [("in", "fc1"), ("fc1", "layer1"), ("layer1", "fc2"), ("fc2", "li"), ("li", "out")]
    plan = convert_graph(nir.NIRGraph(nodes=nodes, edges=edges), DT)
    assert [(l.neuron_node, l.recurrent_nodes) for l in plan.layers] == [("layer1.lif", ("layer1.w_rec",)),
                                                                          ("li", ())]
    assert plan.spec.layers[0].recurrent


def test_unsupported_nodes_name_the_node_and_the_remedy():
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([1, 4, 4])),
                            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                  padding=np.array([0, 0])),
                            "out": nir.Output(output_type=np.array([1, 2, 2]))},
                     edges=[("in", "pool"), ("pool", "out")], type_check=False)
    with pytest.raises(ConversionError) as info:
        convert_graph(g, DT)
    assert (info.value.node, info.value.node_type) == ("pool", "SumPool2d")
    assert "has no Lava conversion" in str(info.value) and "LAVA_CONVERTERS[nir.SumPool2d]" in info.value.remedy
    # a type nir_io reads but the Lava registry does not (yet): Threshold
    t = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([2])), "fc": nir.Linear(weight=np.eye(2)),
                            "thr": nir.Threshold(threshold=np.array([0.5, 0.5])),
                            "ro": nir.Affine(weight=np.ones((1, 2)), bias=np.zeros(1)),
                            "out": nir.Output(output_type=np.array([1]))},
                     edges=[("in", "fc"), ("fc", "thr"), ("thr", "ro"), ("ro", "out")])
    with pytest.raises(ConversionError) as info:
        convert_graph(t, DT)
    err = info.value
    assert (err.node, err.node_type) == ("thr", "Threshold") and "has no Lava conversion" in str(err)
    assert "LAVA_CONVERTERS[nir.Threshold]" in err.remedy and "CubaLIF" in err.remedy
    assert nir.Threshold not in LAVA_CONVERTERS


def test_adding_a_primitive_is_one_function():
    def lava_threshold(name, node, ctx):
        return nir_load.convert_threshold(name, node, ctx), LavaTarget(ROLE_NEURONS, "LIFReset, no memory")

    t = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([2])), "fc": nir.Linear(weight=np.eye(2)),
                            "thr": nir.Threshold(threshold=np.array([0.5, 0.25])),
                            "ro": nir.Affine(weight=np.ones((1, 2)), bias=np.zeros(1)),
                            "out": nir.Output(output_type=np.array([1]))},
                     edges=[("in", "fc"), ("fc", "thr"), ("thr", "ro"), ("ro", "out")])
    plan = convert_graph(t, DT, converters={nir.Threshold: lava_threshold})
    assert [(n.name, n.target.role) for n in plan.nodes][2] == ("thr", ROLE_NEURONS)
    thr, ro = plan.spec.layers
    np.testing.assert_array_equal(thr.vth, [0.5, 0.25])
    assert (ro.name, ro.spiking) == ("ro", False)         # linear nodes after the last neuron: du = dv = 1 readout
    assert plan.layers[-1].neuron_node is None and plan.layers[-1].synapse_nodes == ("ro",)
    assert "du = dv = 1" in plan.describe()
    assert nir.Threshold not in LAVA_CONVERTERS            # the override did not leak into the registry


def test_a_converter_must_return_ops_and_a_target():
    from spikedeploy.errors import ConfigError

    with pytest.raises(ConfigError, match="must return"):
        convert_graph(hand_graph(), DT, converters={nir.LI: lambda name, node, ctx: []})


def test_non_spiking_layer_feeding_another_is_refused_naming_it():
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([2])), "fc1": nir.Linear(weight=np.eye(2)),
                            "li": nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)),
                            "fc2": nir.Linear(weight=np.eye(2)),
                            "lif": nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
                                           v_threshold=np.ones(2)),
                            "out": nir.Output(output_type=np.array([2]))},
                     edges=[("in", "fc1"), ("fc1", "li"), ("li", "fc2"), ("fc2", "lif"), ("lif", "out")])
    with pytest.raises(ConversionError) as info:
        convert_graph(g, 1e-3)
    assert (info.value.node, info.value.node_type) == ("li", "LI") and "readout" in str(info.value)


def test_delays_become_delayed_connections_and_fractional_ones_are_refused():
    g = hand_graph()
    nodes = dict(g.nodes)
    nodes["delay"] = nir.Delay(delay=np.full(3, 2 * DT))
    edges = [("in", "delay"), ("delay", "fc1")] + [e for e in g.edges if e != ("in", "fc1")]
    plan = convert_graph(nir.NIRGraph(nodes=nodes, edges=edges), DT)
    first = plan.spec.layers[0]
    assert first.delays == (2,) and plan.notes == ()
    assert dict((n.name, n.target.role) for n in plan.nodes)["delay"] == ROLE_DENSE
    assert plan.layers[0].synapse_nodes == ("delay", "fc1")
    np.testing.assert_array_equal(first.weight, convert_graph(g, DT).spec.layers[0].weight)
    nodes["delay"] = nir.Delay(delay=np.full(3, 2.5 * DT))
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    with pytest.raises(ConversionError) as info:
        convert_graph(graph, DT)
    assert info.value.node == "delay" and "strict=False" in info.value.remedy
    with pytest.warns(NirImportWarning, match="rounded to whole steps"):
        plan = convert_graph(graph, DT, strict=False)
    assert len(plan.notes) == 1 and "node 'delay' (Delay)" in plan.notes[0]
    # zero delays are exact
    nodes["delay"] = nir.Delay(delay=np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = convert_graph(nir.NIRGraph(nodes=nodes, edges=edges), DT)
    assert plan.notes == () and dict((n.name, n.target.role) for n in plan.nodes)["delay"] == ROLE_PASS


def test_stored_integers_must_match_the_graph():
    plan = convert_graph(hand_graph(), DT)
    ok = LoihiNetwork(3, (LoihiLayer("cuba", np.zeros((4, 3), int), 0, 0, 0, vth=10, rec_weight=np.zeros((4, 4), int)),
                          LoihiLayer("li", np.zeros((2, 4), int), 0, 4095, 0, spiking=False)))
    check_stored_network(ok, plan.spec)
    bad = LoihiNetwork(3, (LoihiLayer("cuba", np.zeros((4, 3), int), 0, 0, 0, vth=10),
                           LoihiLayer("li", np.zeros((2, 4), int), 0, 4095, 0, spiking=False)))
    with pytest.raises(ConversionError, match="recurrent True") as info:
        check_stored_network(bad, plan.spec)
    assert "export-nir --quantized" in info.value.remedy
