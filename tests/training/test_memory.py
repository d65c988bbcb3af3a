"""The lower bound of a training run's memory, by hand, and the refusal through the CLI."""

import pytest

from spikedeploy.cli import main
from spikedeploy.models import get_preset
from spikedeploy.training.memory import training_memory

from .toy_shd import write_toy_dataset


def test_training_memory_is_the_hand_computed_lower_bound():
    net = get_preset("lif-shd").network.replace(input_size=40, hidden=[16, 8], n_classes=4)
    parts = training_memory(net, n_steps=20, batch_size=32, n_samples=100)
    assert parts["binned frames"] == 100 * 20 * 40
    assert parts["frame edges"] == 21 * 8
    assert parts["weights (with gradients and Adam's moments)"] == (40 * 16 + 16 * 8 + 8 * 4) * 4 * 4
    assert parts["activations of one batch"] == 32 * 20 * (16 + 8) * 4 * 3
    gpn = training_memory(net.replace(neuron="gpn", recurrent=False), n_steps=20, batch_size=32, n_samples=100)
    extra = gpn["weights (with gradients and Adam's moments)"] - parts["weights (with gradients and Adam's moments)"]
    assert extra == (8 * 16 * 16 + 8 * 8 * 8) * 4 * 4       # the gates: 2C -> 4C per layer


@pytest.mark.parametrize("flags", [["--time-steps", "1000000000"], ["--hidden", "1000000000"]])
def test_train_refuses_a_size_that_cannot_fit_before_it_starts(tmp_path, flags, capsys):
    data = write_toy_dataset(tmp_path / "data", n_train=20, n_test=8)
    out = tmp_path / "m.pt"
    code = main(["train", "--preset", "lif-shd", "--data", str(data), "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2 and "needs at least" in err and "GiB" in err and "remedy:" in err and "Traceback" not in err
    assert not out.exists()
