"""Two gloo processes (DDP) train to the same weights as one process with the same global batch."""

import pytest
import torch

from spikedeploy.errors import ConfigError
from spikedeploy.models import NetworkConfig, build_network
from spikedeploy.training.config import TrainConfig
from spikedeploy.training.distributed import DistContext, init_from_env, launch_local, shard, torchrun_env, wrap_model
from spikedeploy.training.loop import TensorData, fit

CONFIGS = {
    "cuba": NetworkConfig(input_size=20, hidden=(16,), n_classes=4, neuron="cuba-lif", recurrent=True,
                          weight_gain=3.0),
    # GPN with v_reset_std = 0: the random reset values are per process, like dropout masks.
    "gpn": NetworkConfig(input_size=20, hidden=(12,), n_classes=4, neuron="gpn", readout="mean-linear",
                         synapse_bias=True, v_reset_std=0.0),
}
TRAIN = TrainConfig(epochs=1, batch_size=16, lr=1e-2, seed=3)
STEPS = 4  # 50 samples: batches of 16, 16, 16 and 2 (1 per process: the uneven case)


def _data():
    g = torch.Generator().manual_seed(11)
    x = (torch.rand(60, 15, 20, generator=g) < 0.25).to(torch.uint8)
    y = torch.arange(60) % 4
    return TensorData(x[:50], y[:50]), TensorData(x[50:], y[50:])


def _train(name, ctx=DistContext(), device=torch.device("cpu")):
    train, val = _data()
    torch.manual_seed(0)
    net = build_network(CONFIGS[name])
    model = wrap_model(net, ctx, device)
    res = fit(model, train, val, TRAIN, device=device, ctx=ctx, progress=False, max_steps=STEPS)
    return net, res


def _worker(rank, out_dir):
    ctx, device = init_from_env("cpu")
    assert ctx.world_size == 2 and ctx.rank == rank and ctx.backend == "gloo"
    for name in CONFIGS:
        net, res = _train(name, ctx, device)
        if rank == 0:
            torch.save({"state": net.state_dict(), "val_acc": res.history[-1]["val_acc"],
                        "steps": res.steps}, f"{out_dir}/{name}.pt")


def test_two_processes_equal_one(tmp_path):
    torch.set_num_threads(1)
    launch_local(_worker, 2, str(tmp_path))
    for name in CONFIGS:
        net, res = _train(name)
        ddp = torch.load(tmp_path / f"{name}.pt", weights_only=True)
        assert ddp["steps"] == res.steps == STEPS
        moved = 0.0
        init = build_network(CONFIGS[name]).state_dict()
        for k, v in net.state_dict().items():
            assert torch.allclose(ddp["state"][k], v, rtol=1e-5, atol=1e-6), (name, k)
            moved += float((v - init[k]).abs().sum()) if k in init else 0.0
        assert moved > 0  # training changed the weights: the comparison is not trivial
        assert ddp["val_acc"] == res.history[-1]["val_acc"]


def test_torchrun_env_detection():
    assert torchrun_env({}) is None
    assert torchrun_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == \
        {"rank": 1, "world_size": 4, "local_rank": 1}
    with pytest.raises(ConfigError):
        torchrun_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ConfigError):
        torchrun_env({"RANK": "x", "WORLD_SIZE": "4"})


def test_shard_splits_a_global_batch():
    idx = torch.arange(7)
    parts = [shard(idx, DistContext(rank=r, world_size=3, backend="gloo")).tolist() for r in range(3)]
    assert parts == [[0, 1, 2], [3, 4], [5, 6]]
    assert shard(idx, DistContext()).tolist() == list(range(7))


def _stuck(rank):
    import time

    time.sleep(600)


def test_a_stuck_job_is_killed_and_named():
    import time

    from spikedeploy.errors import DistributedError

    t0 = time.monotonic()
    with pytest.raises(DistributedError) as err:
        launch_local(_stuck, 2, timeout_s=2.0)
    assert time.monotonic() - t0 < 30
    assert err.value.alive_ranks == [0, 1] and err.value.timeout_s == 2.0
    assert "GLOO_SOCKET_IFNAME" in str(err.value)


def test_timeout_variable_is_checked(monkeypatch):
    from datetime import timedelta

    from spikedeploy.training.distributed import TIMEOUT_ENV, _timeout

    monkeypatch.setenv(TIMEOUT_ENV, "45")
    assert _timeout() == timedelta(seconds=45)
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    with pytest.raises(ConfigError, match=TIMEOUT_ENV):
        _timeout()
    monkeypatch.delenv(TIMEOUT_ENV)
    assert _timeout() == timedelta(minutes=30)


def _hung_teardown(rank, out_dir):
    import time
    from pathlib import Path

    import torch.distributed as dist

    ctx, _ = init_from_env("cpu")
    assert ctx.world_size == 2
    dist.destroy_process_group = lambda: time.sleep(600)   # the gloo teardown hang, made certain
    Path(out_dir, f"rank{rank}.txt").write_text("done")


def test_ranks_end_without_the_teardown_that_can_hang(tmp_path):
    import time

    t0 = time.monotonic()
    launch_local(_hung_teardown, 2, str(tmp_path), timeout_s=60.0)
    assert time.monotonic() - t0 < 45
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0.txt", "rank1.txt"]
