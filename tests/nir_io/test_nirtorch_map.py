import warnings

import nir
import numpy as np
import pytest
import torch

from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.nir_io import NirImportWarning, nir_to_spec, read_nir, write_nir
from spikedeploy.nir_io import nirtorch_map

from .specs import leaky_readout_spec, mixed_spec, spikes


@pytest.mark.parametrize("make", [mixed_spec, leaky_readout_spec])
@pytest.mark.parametrize("gain", ["neuron", "synapse"])
def test_nirtorch_runs_our_graph_like_the_spec(tmp_path, make, gain):
    """nirtorch wires the written graph itself (recurrent edge, Affine bias, node order)."""
    spec = make()
    graph = read_nir(write_nir(tmp_path / "net.nir", spec, input_gain=gain))
    x = spikes(11, 3, 50, spec.input_size)
    ref = SpecNetwork(spec, dtype=torch.float64).run(x.double())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = nirtorch_map.to_torch(graph, spec.dt, dtype=torch.float64)
    out = nirtorch_map.run(module, x.double())
    assert out.shape == ref.outputs[-1].shape
    torch.testing.assert_close(out, ref.outputs[-1], rtol=1e-9, atol=1e-9)
    # in float32 the two differ only by rounding (different summation order)
    module32 = nirtorch_map.to_torch(graph, spec.dt, dtype=torch.float32)
    out32 = nirtorch_map.run(module32, x)
    ref32 = SpecNetwork(spec).run(x).outputs[-1]
    assert torch.max(torch.abs(out32 - ref32)) <= 1e-5 * max(1.0, float(ref32.abs().max()))


def test_approximated_current_bias_differs_by_the_documented_transient():
    """A CubaLI fed a constant Affine bias b: NIR (nirtorch) has u_t = c (1 - (1-du)^t) / du, the
    non-strict spec replaces it by the voltage bias c / du; with dv = 1 (v_t = u_t + bias) the difference
    is exactly c (1 - du)^t / du."""
    du, c = 0.25, 0.3
    dt = 1e-3
    li = nir.CubaLI(tau_syn=np.array([dt / du]), tau_mem=np.array([dt]), r=np.array([1.0]),
                    v_leak=np.array([0.0]), w_in=np.array([1 / du]))
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([1])),
                            "fc": nir.Affine(weight=np.zeros((1, 1)), bias=np.array([c])), "li": li,
                            "out": nir.Output(output_type=np.array([1]))},
                     edges=[("in", "fc"), ("fc", "li"), ("li", "out")])
    with pytest.warns(NirImportWarning):
        spec = nir_to_spec(g, dt=dt, strict=False)
    steps = 12
    x = torch.zeros(1, steps, 1, dtype=torch.float64)
    exact = nirtorch_map.run(nirtorch_map.to_torch(g, dt, dtype=torch.float64), x)[0, :, 0]
    approx = SpecNetwork(spec, dtype=torch.float64).run(x).outputs[0][0, :, 0]
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    # the current is scaled by gain = du * w_in * dv * r = 1
    torch.testing.assert_close(exact, c * (1 - (1 - du) ** t) / du, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(approx - exact, c * (1 - du) ** t / du, rtol=1e-6, atol=1e-7)


def test_hand_built_graph_nirtorch_equals_our_loader():
    from .test_load import _hand_graph

    graph, _ = _hand_graph()
    dt = 2.0 ** -10
    x = spikes(3, 2, 40, 3, p=0.5) * 3
    spec = nir_to_spec(graph, dt=dt)
    ref = SpecNetwork(spec, dtype=torch.float64).run(x.double())
    assert ref.outputs[0].sum() > 0
    out = nirtorch_map.run(nirtorch_map.to_torch(graph, dt, dtype=torch.float64), x.double())
    torch.testing.assert_close(out, ref.outputs[-1], rtol=1e-9, atol=1e-9)
