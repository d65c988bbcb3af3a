"""Training loop: end to end on a toy SHD-format set, NaN handling, plateau and early stopping."""

import math

import pytest
import torch

from spikedeploy.data.shd import BinningConfig
from spikedeploy.errors import DataFormatError, ShapeMismatchError, TrainingError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.training import loop
from spikedeploy.training.checkpoint import load_checkpoint, save_checkpoint
from spikedeploy.training.config import TrainConfig
from spikedeploy.training.loop import TensorData, evaluate, fit, run_training

from .toy_shd import write_toy_dataset

TOY_NET = NetworkConfig(input_size=40, hidden=(16,), n_classes=4, neuron="cuba-lif", recurrent=True)
TOY_BINS = BinningConfig(n_steps=25, duration=0.5)


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def test_run_training_end_to_end(toy_dir, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "model.pt"
    res = run_training(TOY_NET, TOY_BINS, TrainConfig(epochs=4, batch_size=16, lr=5e-3), toy_dir, out,
                       device="cpu", progress=False)
    assert res.test_acc >= 0.9 and res.best_val_acc >= 0.9
    assert len(res.firing_rates) == 1 and 0 < res.firing_rates[0] < 1
    model, meta = load_checkpoint(out)
    assert meta["metrics"]["test_acc"] == res.test_acc
    assert meta["binning"] == TOY_BINS.replace(n_channels=40)
    assert meta["training"]["epochs"] == 4
    assert meta["extra"]["data"]["n_train"] + meta["extra"]["data"]["n_val"] == 120
    # The stored test accuracy is what the stored weights give.
    from spikedeploy.data.shd import ShdDataset

    x, y = ShdDataset(toy_dir / "test.h5", meta["binning"], progress=False).tensors()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(res.test_acc)


def test_channel_count_mismatch(toy_dir):
    with pytest.raises(ShapeMismatchError) as err:
        run_training(TOY_NET.replace(input_size=700), TOY_BINS, TrainConfig(epochs=1), toy_dir, None,
                     device="cpu", progress=False)
    assert "700" in str(err.value) and "40" in str(err.value)
    with pytest.raises(ShapeMismatchError):
        run_training(TOY_NET.replace(n_classes=20), TOY_BINS, TrainConfig(epochs=1), toy_dir, None,
                     device="cpu", progress=False)


def test_missing_data_files(tmp_path):
    with pytest.raises(DataFormatError, match="train file is missing"):
        run_training(TOY_NET, TOY_BINS, TrainConfig(epochs=1), tmp_path, None, device="cpu", progress=False)


def _tensor_data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TensorData((torch.rand(n, 12, 40, generator=g) < 0.3).to(torch.uint8), torch.arange(n) % 4)


class _PoisonedData(TensorData):
    """Returns NaN frames from the ``after``-th batch on."""

    def __init__(self, x, y, after):
        super().__init__(x, y)
        self.after, self.calls = after, 0

    def batch(self, idx, device):
        self.calls += 1
        x, y = super().batch(idx, device)
        return (torch.full_like(x, math.nan) if self.calls > self.after else x), y


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    net = build_network(TOY_NET)
    good = _tensor_data()
    train = _PoisonedData(good.x, good.y, after=4)  # 3 batches per epoch: epoch 2 is poisoned
    path = tmp_path / "model.pt"

    def save(state, metrics):
        return save_checkpoint(path, net, state_dict=state, metrics={"best_val_acc": metrics["best_val_acc"]})

    with pytest.raises(TrainingError) as err:
        fit(net, train, _tensor_data(16, 1), TrainConfig(epochs=5, batch_size=16), progress=False,
            on_improve=save)
    e = err.value
    assert e.epoch == 2 and e.step == 5 and e.last_good_checkpoint == path
    assert "not finite" in str(e) and str(path) in str(e) and "remedy" in str(e)
    model, meta = load_checkpoint(path)  # still a valid checkpoint of epoch 1
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_plateau_and_early_stopping(monkeypatch):
    accs = iter([0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: {"loss": 1.0, "acc": next(accs), "n": 1, "rates": [0.0]})
    torch.manual_seed(0)
    net = build_network(TOY_NET)
    saved = []
    res = fit(net, _tensor_data(), _tensor_data(8, 1),
              TrainConfig(epochs=10, batch_size=16, lr=1e-3, lr_factor=0.5, lr_patience=1, early_stop_patience=3),
              progress=False, on_improve=lambda state, m: saved.append(m["best_epoch"]))
    assert [h["epoch"] for h in res.history] == [1, 2, 3, 4, 5]
    assert [h["lr"] for h in res.history] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4])
    assert res.stopped_early and res.best_epoch == 2 and res.best_val_acc == 0.6
    assert saved == [1, 2]


def test_activity_regularisation_lowers_firing(toy_dir):
    torch.set_num_threads(1)
    train, val = _tensor_data(64, 2), _tensor_data(16, 3)
    rates = {}
    for reg in (0.0, 5.0):
        torch.manual_seed(0)
        net = build_network(TOY_NET.replace(weight_gain=3.0))
        fit(net, train, val, TrainConfig(epochs=3, batch_size=16, lr=5e-3, activity_reg=reg), progress=False)
        rates[reg] = evaluate(net, val)["rates"][0]
    assert rates[5.0] < 0.5 * rates[0.0]


def test_nan_loss_at_the_first_step():
    torch.manual_seed(0)
    net = build_network(NetworkConfig(input_size=40, hidden=(8,), n_classes=4, neuron="gpn", readout="mean-linear"))
    with torch.no_grad():
        net.readout.bias[1] = math.nan
    with pytest.raises(TrainingError, match="loss is not finite") as err:
        fit(net, _tensor_data(), _tensor_data(8, 1), TrainConfig(epochs=1, batch_size=16), progress=False)
    assert err.value.epoch == 1 and err.value.step == 1 and err.value.last_good_checkpoint is None


@pytest.mark.parametrize("field, value, wanted", [("lr", math.nan, "> 0"), ("lr", -1e-3, "> 0"),
                                                  ("val_fraction", 1.5, "between 0 and 1")])
def test_bad_training_values_say_what_is_wanted(field, value, wanted):
    from spikedeploy.errors import ConfigError
    from spikedeploy.training.config import TrainConfig

    with pytest.raises(ConfigError) as err:
        TrainConfig(**{field: value})
    assert err.value.field == f"training.{field}" and wanted in err.value.problem
    assert err.value.remedy is not None and wanted in err.value.remedy
