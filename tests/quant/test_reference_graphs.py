"""The shipped reference graphs (export/*.nir) still load and give their stored expected outputs."""

from pathlib import Path

import numpy as np
import pytest
import torch

from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.nir_io import load_nir, read_config, read_loihi_network, read_nir
from spikedeploy.quant.emulator import emulate, emulator_logits

EXPORT = Path(__file__).resolve().parents[2] / "export"
NAMES = ("lif-shd", "cuba-shd", "lif-ff-shd", "gpn-small-folded")


def test_the_reference_folder_is_complete_and_small():
    for name in NAMES:
        assert (EXPORT / f"{name}.nir").is_file() and (EXPORT / f"{name}.expected.npz").is_file()
    total = sum(p.stat().st_size for p in EXPORT.iterdir() if p.is_file())
    assert total < 5 * 2 ** 20


@pytest.mark.parametrize("name", NAMES)
def test_reference_graph_reproduces_its_expected_outputs(name):
    expected = np.load(EXPORT / f"{name}.expected.npz")
    graph = read_nir(EXPORT / f"{name}.nir")
    spec = load_nir(EXPORT / f"{name}.nir")
    x = torch.from_numpy(expected["x"].astype(np.float32))
    assert x.shape == (8, 100, 700) and spec.input_size == 700 and spec.dt == pytest.approx(0.01)
    # Float: SpecNetwork of the re-imported spec (float32; BLAS may order sums differently elsewhere).
    run = SpecNetwork(spec).run(x)
    np.testing.assert_allclose(run.logits.numpy(), expected["float_logits"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(run.voltages[-1].numpy(), expected["float_readout_v"], rtol=0, atol=1e-5)
    for i, layer in enumerate(spec.layers[:-1]):
        agree = (run.outputs[i].numpy() == expected[f"float_spikes_{layer.name}"]).mean()
        assert agree >= 0.999, layer.name
    # Integers: the stored LoihiNetwork in the bit-exact emulator, bit for bit.
    net = read_loihi_network(graph)
    assert net.layer_names == tuple(l.name for l in spec.layers)
    emu = emulate(net, x, record=("s", "v"))
    assert np.array_equal(emu.readout.numpy(), expected["emu_readout_v"])
    assert np.array_equal(emulator_logits(net, emu.readout).numpy(), expected["emu_logits"])
    for layer in spec.layers[:-1]:
        s = emu.spikes[layer.name].numpy()
        assert np.array_equal(s, expected[f"emu_spikes_{layer.name}"]), layer.name
        assert 0.01 < s.mean() < 0.5, layer.name                         # the layer is active
    cfg = read_config(graph)
    assert cfg["reference"] == name and "not trained" in cfg["how"]
