"""Every source's converted network deploys: fold (when Loihi's neuron lacks something),
export-nir with Loihi integers, and a Lava run that equals the emulator on every spike."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

import spikedeploy as sd
from spikedeploy.fold import fold_needed
from spikedeploy.foreign import ForeignOptions, convert_state
from spikedeploy.quant.ptq import QuantConfig  # noqa: F401 - the export's quantiser, named for the reader

from ..training.toy_shd import write_toy_dataset
from .hr_reference import SNNBase
from .imp_reference import ImprovedModel

N_IN = 40
needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None, reason="lava-nc is not installed")


def _hr(kind: str):
    torch.manual_seed(0)
    src = SNNBase(kind, depth=1, width=16, n_in=N_IN, n_out=4)
    with torch.no_grad():
        src.fc1.weight.mul_(4.0)
    opts = {"neuron": kind} if kind in ("LIF", "IF") else {}
    return convert_state(src.state_dict(), "hr-gpn-snn", ForeignOptions(time_steps=20, **opts))


def _s2net():
    g = torch.Generator().manual_seed(0)
    sd_ = {"layers.0.w": torch.randn(N_IN, 16, generator=g) * 0.3, "layers.0.beta": torch.tensor([0.7]),
           "layers.0.b": torch.full((16,), 0.2), "layers.1.w": torch.randn(16, 4, generator=g) * 0.3,
           "layers.1.b": torch.zeros(4)}
    return convert_state(sd_, "s2net")


def _imp():
    torch.manual_seed(0)
    return convert_state(ImprovedModel(True, n_in=N_IN, hidden=12, layers=1, n_out=4).state_dict(), "imp-snns",
                         ForeignOptions(threshold=3))


def _library(neuron: nn.Module, gain: float):
    """Linear(N_IN, 16) (weights x gain) -> a library's neuron -> Linear(16, 4), converted."""
    torch.manual_seed(0)
    l1 = nn.Linear(N_IN, 16)
    with torch.no_grad():
        l1.weight.mul_(gain)
    return sd.from_module(nn.Sequential(l1, neuron, nn.Linear(16, 4)), time_steps=20)


def _snntorch():
    snn = pytest.importorskip("snntorch")
    return _library(snn.Synaptic(alpha=0.6, beta=0.8, init_hidden=True), 3.0)


def _norse():
    import norse.torch as norse

    return _library(norse.LIFCell(), 20.0)


def _spikingjelly():
    neuron = pytest.importorskip("spikingjelly.clock_driven.neuron")
    return _library(neuron.LIFNode(tau=2.0), 3.0)


SOURCES = {"hr-gpn-snn GPN": lambda: _hr("GPN"), "hr-gpn-snn RLIF": lambda: _hr("RLIF"),
           "hr-gpn-snn IF": lambda: _hr("IF"), "s2net": _s2net, "imp-snns v2": _imp,
           "snntorch Synaptic": _snntorch, "norse LIFCell": _norse, "spikingjelly LIFNode": _spikingjelly}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("deploy_data"), n_train=40, n_test=12, channels=N_IN)


@needs_lava
@pytest.mark.parametrize("name", list(SOURCES))
def test_converted_networks_fold_export_and_run_in_lava(name, data, tmp_path):
    conv = SOURCES[name]()
    ckpt = sd.save_model(conv, tmp_path / "converted.pt")
    if fold_needed(conv.network.config):
        ckpt = sd.fold(ckpt, tmp_path / "folded.pt", data_dir=data).checkpoint
    nir_file = tmp_path / "model.nir"
    sd.export_nir(ckpt, nir_file, quantized=True, data_dir=data,
                  quant=sd.api.QuantOptions(calib_samples=16, allow_approx=True))
    run = sd.run_lava(nir_file, data, samples=4, verify=True, allow_approx=True)
    assert run.verified is True
