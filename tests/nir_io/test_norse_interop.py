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

from .specs import lif_only_spec, spikes

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


def test_norse_reads_our_plain_lif_export_with_identical_spikes(tmp_path):
    spec = lif_only_spec()
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
