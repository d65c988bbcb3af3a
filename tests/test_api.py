"""The Python API at the package top: the functions the command line calls."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import torch
from torch import nn

import spikedeploy as sd
from spikedeploy.errors import ConfigError

from .foreign.hr_reference import seeded_gpn
from .training.toy_shd import write_toy_dataset


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    data = write_toy_dataset(folder / "data", n_train=48, n_test=16, channels=40)
    src = seeded_gpn(width=16)
    torch.save(src.state_dict(), folder / "gpn_state.pt")
    return {"folder": folder, "data": data, "src": folder / "gpn_state.pt", "module": src}


def test_importing_the_package_loads_no_torch():
    code = "import sys, spikedeploy; assert 'torch' not in sys.modules; print(len(spikedeploy.API))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == len(sd.API)


def test_load_model_and_simulate(files):
    net = sd.load_model(files["src"], source="hr-gpn-snn", time_steps=20)
    frames = torch.poisson(torch.full((3, 20, 40), 0.2), generator=torch.Generator().manual_seed(0))
    out = sd.simulate(net, frames)
    assert out.logits.shape == (3, 4) and list(out.spikes) == ["hidden0"]
    assert out.spikes["hidden0"].shape == (3, 20, 16)
    ref, _ = files["module"].double()(frames.double())
    assert float((out.logits.double() - ref).abs().max()) < 1e-4
    with pytest.raises(ConfigError, match="apply to foreign files only"):
        sd.load_model(files["src"], time_steps=20)


def test_from_module_save_model_load_model_round_trip(tmp_path):
    torch.manual_seed(1)
    snn = pytest.importorskip("snntorch")
    seq = nn.Sequential(nn.Linear(10, 8), snn.Leaky(beta=0.8, init_hidden=True, reset_mechanism="zero"),
                        nn.Linear(8, 3))
    conv = sd.from_module(seq, time_steps=12)
    path = sd.save_model(conv, tmp_path / "m.pt")
    back = sd.load_model(path)
    x = (torch.rand(2, 12, 10) < 0.4).float()
    assert torch.equal(sd.simulate(conv, x).logits, sd.simulate(back, x).logits)


def test_convert_fold_export(files):
    ckpt = files["folder"] / "gpn.pt"
    assert sd.convert(files["src"], ckpt, source="hr-gpn-snn", time_steps=20).checkpoint == ckpt
    folded = sd.fold(ckpt, files["folder"] / "folded.pt", data_dir=files["data"])
    assert folded.report["kind"] == "gpn" and "folded" in folded.accuracy
    spec_only = sd.export_nir(folded.checkpoint, None)
    assert spec_only.path is None and len(spec_only.spec.layers) == 2


@pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")
def test_run_lava(files):
    folded = files["folder"] / "folded.pt"
    if not folded.exists():
        pytest.skip("needs the fold of test_convert_fold_export")
    nir_file = files["folder"] / "folded.nir"
    sd.export_nir(folded, nir_file, quantized=True, data_dir=files["data"],
                  quant=sd.api.QuantOptions(calib_samples=16, allow_approx=True))
    run = sd.run_lava(nir_file, files["data"], samples=4, verify=True)
    assert run.verified is True


def test_fold_is_the_api_function_beside_the_fold_subpackage():
    import spikedeploy.fold  # noqa: F401 - the subpackage, imported as usual
    from spikedeploy.fold import FoldConfig

    assert sd.fold is sd.api.fold and callable(sd.fold)
    assert FoldConfig().clusters == 8 and sys.modules["spikedeploy.fold"].FOLDERS
