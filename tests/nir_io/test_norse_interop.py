"""norse 1.1 reads our plain-LIF export with the same spikes (input_gain="synapse").

norse's LIF (LIFBoxCell) steps ``v += dt/tau (v_leak - v + I)``: it ignores ``r``
(it only logs a warning), so it reads the default "neuron" form (r = 1/dv) with
inputs scaled by dv; the second test proves that this is the whole difference.
"""

import logging

import numpy as np
import pytest
import torch

from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.netspec import LayerSpec, NetworkSpec
from spikedeploy.nir_io import read_nir, write_nir

from .specs import if_lif_spec, lif_only_spec, spikes

norse_torch = pytest.importorskip("norse.torch")


def _run_norse(graph, dt, x):
    logging.disable(logging.WARNING)  # norse logs "r is expected to be 1" for the "neuron" form
    try:
        with pytest.warns(DeprecationWarning):  # norse goes through nirtorch.load
            module = norse_torch.from_nir(graph, dt=dt)
    finally:
        logging.disable(logging.NOTSET)
    state, out = None, []
    for x_t in x.unbind(1):
        y, state = module(x_t, state)
        out.append(y)
    return torch.stack(out, 1)


@pytest.mark.parametrize("make", [lif_only_spec, if_lif_spec])
def test_norse_reads_our_plain_lif_export_with_identical_spikes(tmp_path, make):
    spec = make()
    graph = read_nir(write_nir(tmp_path / "lif.nir", spec, input_gain="synapse"))
    x = spikes(5, 8, 100, spec.input_size)
    ours = SpecNetwork(spec).run(x).outputs[-1]
    theirs = _run_norse(graph, spec.dt, x)
    assert ours.sum() > 100  # the output layer does spike
    assert torch.equal(theirs, ours)


def test_norse_ignores_r_so_the_neuron_form_reads_as_dv_scaled_inputs(tmp_path):
    spec = lif_only_spec()
    graph = read_nir(write_nir(tmp_path / "lif.nir", spec, input_gain="neuron"))
    x = spikes(5, 8, 100, spec.input_size)
    theirs = _run_norse(graph, spec.dt, x)
    ours = SpecNetwork(spec).run(x).outputs[-1]
    assert int((theirs != ours).sum()) > 50  # really different ...
    # ... and exactly what a spec with weight and bias multiplied by dv gives
    scaled = NetworkSpec(spec.input_size, tuple(
        LayerSpec(l.name, l.weight * l.dv[:, None], du=l.du, dv=l.dv, vth=l.vth, bias=l.bias * l.dv)
        for l in spec.layers), readout=spec.readout, dt=spec.dt)
    assert torch.equal(theirs, SpecNetwork(scaled).run(x).outputs[-1])
    assert np.all(graph.nodes["hidden.neuron"].r != 1)


def test_norse_reads_a_bias_free_recurrent_cuba_lif_with_identical_spikes(tmp_path):
    """norse's CubaLIF honours w_in and r and updates the voltage with the NEW current (current
    first, as we do); nirtorch.load wires the recurrent Linear with one step of delay, as we do.
    (With a bias, v_leak != 0, norse differs: it also adds v_leak to the synaptic current and
    starts both states at v_leak; see docs/nir-conventions.md.)"""
    rng = np.random.default_rng(2)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    h = LayerSpec("h", rng.normal(0, 0.8, (20, 30)), du=f32(rng.uniform(0.1, 0.9, 20)),
                  dv=f32(rng.uniform(0.05, 0.9, 20)), vth=1.0, rec_weight=rng.normal(0, 0.3, (20, 20)))
    o = LayerSpec("o", rng.normal(0, 0.8, (5, 20)), du=1.0, dv=f32(rng.uniform(0.05, 0.9, 5)), vth=1.0)
    spec = NetworkSpec(30, (h, o), dt=1e-3)
    graph = read_nir(write_nir(tmp_path / "cuba.nir", spec, input_gain="synapse"))
    assert type(graph.nodes["h.neuron"]).__name__ == "CubaLIF" and "h.recurrent" in graph.nodes
    x = spikes(9, 8, 100, 30)
    ours = SpecNetwork(spec).run(x).outputs[-1]
    assert ours.sum() > 100
    assert torch.equal(_run_norse(graph, spec.dt, x), ours)
