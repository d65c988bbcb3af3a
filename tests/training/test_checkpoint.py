"""Checkpoints: round trips, weights-only loading, and everything that must be refused."""

import os

import numpy as np
import pytest
import torch

from spikedeploy.data.shd import BinningConfig
from spikedeploy.errors import CheckpointError, SpikedeployError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.training.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from spikedeploy.training.config import TrainConfig

SMALL = dict(input_size=10, hidden=(8, 6), n_classes=3, weight_gain=4.0)


def _net(**kw):
    torch.manual_seed(0)
    return build_network(NetworkConfig(**{**SMALL, **kw}))


@pytest.mark.parametrize("kw", [dict(neuron="lif", recurrent=True), dict(neuron="cuba-lif"),
                                dict(neuron="gpn", readout="mean-linear", synapse_bias=True)])
def test_round_trip_gives_identical_outputs(tmp_path, kw):
    net = _net(**kw)
    with torch.no_grad():  # move learnable neuron parameters away from their initial values
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    net.eval()
    x = (torch.rand(4, 20, 10) < 0.3).float()
    path = save_checkpoint(tmp_path / "m.pt", net, binning=BinningConfig(n_steps=20, n_channels=10),
                           training=TrainConfig(epochs=3), metrics={"test_acc": 0.5, "rates": [0.1, 0.2]},
                           seed=7, extra={"preset": "x"})
    model, meta = load_checkpoint(path)
    assert not model.training
    assert torch.equal(model(x), net(x))
    for (k, a), (k2, b) in zip(net.state_dict().items(), model.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert meta["model_config"] == net.config
    assert meta["binning"] == BinningConfig(n_steps=20, n_channels=10)
    assert meta["training"]["epochs"] == 3 and meta["seed"] == 7
    assert meta["metrics"] == {"test_acc": 0.5, "rates": [0.1, 0.2]}
    assert meta["extra"] == {"preset": "x"}
    assert set(meta["versions"]) == {"spikedeploy", "torch", "numpy", "python"}
    assert "state_dict" not in meta


def test_loads_with_plain_torch_weights_only(tmp_path):
    net = _net()
    save_checkpoint(tmp_path / "m.pt", net)
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["format"] == FORMAT and raw["format_version"] == 1
    assert raw["model_config"]["hidden"] == [8, 6]
    assert set(raw["state_dict"]) == set(net.state_dict())
    # Rebuilt from the config alone:
    again = build_network(NetworkConfig.from_dict(raw["model_config"]))
    again.load_state_dict(raw["state_dict"])


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": 1, "model_config": {}, "state_dict": {},
                "payload": _Evil(marker)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "code" in str(err.value) and "os.system" in str(err.value) or "posix.system" in str(err.value)
    assert not marker.exists()


def test_a_pickled_module_is_refused_with_the_state_dict_remedy(tmp_path):
    torch.save(_net(), tmp_path / "module.pt")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "module.pt")
    assert "a whole pickled torch module" in str(err.value) and "state_dict()" in err.value.remedy


def test_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(7).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    (tmp_path / "text.pt").write_text("hello")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(_net().state_dict(), tmp_path / "bare.pt")
    for name in ("random.pt", "text.pt", "empty.pt", "bare.pt"):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(tmp_path / name)
        assert "checkpoint" in str(err.value)
        assert "run code" not in str(err.value)          # random bytes are not objects that run code
    with pytest.raises(CheckpointError, match="not a torch checkpoint"):
        load_checkpoint(tmp_path / "random.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nothing.pt")


def _doctored(tmp_path, change):
    path = save_checkpoint(tmp_path / "m.pt", _net())
    d = torch.load(path, weights_only=True)
    change(d)
    torch.save(d, path)
    return path


def test_missing_or_unknown_config(tmp_path):
    with pytest.raises(CheckpointError, match="model_config"):
        load_checkpoint(_doctored(tmp_path, lambda d: d.pop("model_config")))
    with pytest.raises(CheckpointError, match="unknown model config"):
        load_checkpoint(_doctored(tmp_path, lambda d: d["model_config"].update(neuron="hodgkin-huxley")))
    with pytest.raises(CheckpointError, match="unknown model config"):
        load_checkpoint(_doctored(tmp_path, lambda d: d["model_config"].update(colour="blue")))
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(_doctored(tmp_path, lambda d: d.update(format_version=99)))


def test_state_dict_from_another_architecture(tmp_path):
    gpn_state = build_network(NetworkConfig(**{**SMALL, "neuron": "gpn", "readout": "mean-linear"})).state_dict()
    with pytest.raises(CheckpointError, match="another architecture"):
        load_checkpoint(_doctored(tmp_path, lambda d: d.update(state_dict=gpn_state)))
    wider = build_network(NetworkConfig(**{**SMALL, "hidden": (9, 6)})).state_dict()
    with pytest.raises(CheckpointError, match="shape differs"):
        load_checkpoint(_doctored(tmp_path, lambda d: d.update(state_dict=wider)))
    path = save_checkpoint(tmp_path / "ok.pt", _net())
    with pytest.raises(CheckpointError, match="another architecture"):
        load_checkpoint(path, expect=NetworkConfig(**{**SMALL, "neuron": "lif"}))


def test_failed_save_keeps_the_previous_file(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _net(), metrics={"v": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save_checkpoint(path, _net(), metrics={"v": object()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    with pytest.raises(SpikedeployError):
        save_checkpoint(tmp_path / "no" / "such" / "dir.pt", _net())


def test_checkpoint_to_spec_takes_dt_from_the_binning_and_names_bad_weights(tmp_path):
    from spikedeploy.data.shd import BinningConfig
    from spikedeploy.models.spec_network import SpecNetwork
    from spikedeploy.training.checkpoint import checkpoint_to_spec

    from ..models.test_to_spec import _model, _spikes

    m = _model("lif-shd")
    path = save_checkpoint(tmp_path / "m.pt", m, binning=BinningConfig(n_steps=50, duration=0.5, n_channels=30),
                           extra={"preset": "lif-shd"})
    spec, model, meta = checkpoint_to_spec(path)
    assert spec.dt == pytest.approx(0.01)
    assert spec.metadata["preset"] == "lif-shd" and spec.metadata["binning"]["n_steps"] == 50
    x = _spikes()
    assert torch.equal(SpecNetwork(spec)(x), m(x))
    with torch.no_grad():
        m.readout.synapse.weight[0, 0] = float("inf")
    bad = save_checkpoint(tmp_path / "bad.pt", m)
    with pytest.raises(CheckpointError) as err:
        checkpoint_to_spec(bad)
    assert "'readout.synapse.weight'" in str(err.value) and "NaN or inf" in str(err.value)


def test_a_conv_network_round_trips_weights_only_and_export_refuses_a_mean_before_delays(tmp_path, capsys):
    from spikedeploy.cli import main
    from spikedeploy.models.conv import GSC_SMALL, ConvNetworkConfig, ConvSpikingNetwork

    torch.manual_seed(3)
    net = ConvSpikingNetwork(ConvNetworkConfig(3, 8, 4, GSC_SMALL)).eval()
    net.set_input_norm(torch.randn(3, 8), torch.rand(3, 8) + 0.5)
    path = save_checkpoint(tmp_path / "conv.pt", net)
    back, meta = load_checkpoint(path)
    assert isinstance(back, ConvSpikingNetwork) and meta["model_config"] == net.config
    x = torch.randn(2, 10, 24) * 3
    with torch.no_grad():
        assert torch.equal(back(x), net(x))
    assert main(["export-nir", str(path), "-o", str(tmp_path / "conv.nir")]) == 2    # conv2d + a mean
    err = capsys.readouterr().err
    assert "node 'conv0'" in err and "non-zero mean" in err and "Traceback" not in err
    assert not (tmp_path / "conv.nir").exists()
