"""Multi-process training through PyTorch's own engine (torchrun + DistributedDataParallel).

``spikedeploy train`` runs in one process unless it finds torchrun's environment
variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``),
for example::

    torchrun --nproc_per_node 4 -m spikedeploy train --preset gpn-shd --data DIR
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --nproc_per_node 8 -m spikedeploy train ...

Then each process joins the process group (NCCL with one GPU per process, chosen by
``LOCAL_RANK``; gloo on CPU), wraps the model in DistributedDataParallel and trains
on its share of every global batch (:func:`shard`): the global batch size stays
``TrainConfig.batch_size`` and the gradient is the same as in one process (up to
float rounding), because each process's loss is its share of the global sum
divided by the global batch size, times the number of processes, and DDP averages.
Random draws (dropout masks, GPN reset values) are per process.

:func:`launch_local` spawns N local processes on the gloo backend without
torchrun (used by the tests to prove the equivalence on a CPU machine); its ranks end
with a barrier and without ``destroy_process_group``, which hung now and then here
(torch 2.3, gloo: about 1 run in 10; this hung CI once). It binds
gloo to the loopback interface (``GLOO_SOCKET_IFNAME=lo`` unless already set):
gloo otherwise picks the interface the host name resolves to, and on sandboxed
machines (gVisor) a connection to the machine's own external address never
completes, so the job would wait forever. Every process group is created with a
timeout (``SPIKEDEPLOY_DIST_TIMEOUT_S``, default PyTorch's 30 minutes; 120 s under
:func:`launch_local`), and :func:`launch_local` kills its processes and raises
:class:`~spikedeploy.errors.DistributedError` when they have not finished by its
deadline, so a stuck collective becomes an error instead of a hang.
"""

from __future__ import annotations

import faulthandler
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import torch
import torch.distributed as dist

from ..errors import ConfigError, DistributedError

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
TIMEOUT_ENV = "SPIKEDEPLOY_DIST_TIMEOUT_S"


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1 or self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def torchrun_env(environ: dict[str, str] | None = None) -> dict[str, int] | None:
    """``{"rank", "world_size", "local_rank"}`` from torchrun's variables, or None if absent."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env or "RANK" not in env:
        return None
    try:
        values = {k.lower(): int(env.get(k, "0")) for k in _ENV}
    except ValueError:
        raise ConfigError("environment", f"torchrun variables must be integers, got "
                                         f"{ {k: env.get(k) for k in _ENV} }") from None
    if not (0 <= values["rank"] < values["world_size"]):
        raise ConfigError("environment", f"RANK {values['rank']} outside 0..WORLD_SIZE-1 "
                                         f"({values['world_size']})")
    return values


def pick_device(preference: str = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: CUDA (``cuda:local_rank``) when available, else CPU; or ``"cpu"``/``"cuda"``/``"cuda:N"``."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device", "CUDA was asked for but is not available", valid=["auto", "cpu"],
                              remedy="use --device cpu, or install a CUDA build of PyTorch")
        return torch.device(preference if ":" in preference else f"cuda:{local_rank}")
    if preference != "cpu":
        raise ConfigError("device", f"unknown device {preference!r}", valid=["auto", "cpu", "cuda", "cuda:N"])
    return torch.device("cpu")


def init_from_env(device: str = "auto") -> tuple[DistContext, torch.device]:
    """Join the process group if torchrun started us; return (context, device)."""
    env = torchrun_env()
    if env is None:
        return DistContext(), pick_device(device)
    dev = pick_device(device, env["local_rank"])
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=env["rank"], world_size=env["world_size"],
                                timeout=_timeout())
    return DistContext(env["rank"], env["world_size"], env["local_rank"], backend), dev


def _timeout() -> timedelta:
    """The process-group timeout: ``$SPIKEDEPLOY_DIST_TIMEOUT_S`` seconds, else PyTorch's default."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return timedelta(minutes=30)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(TIMEOUT_ENV, f"must be a positive number of seconds, got {raw!r}")
    return timedelta(seconds=seconds)


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def shard(indices: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This process's contiguous share of a global batch (sizes differ by at most one)."""
    if ctx.world_size == 1:
        return indices
    return torch.tensor_split(indices, ctx.world_size)[ctx.rank]


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``values`` over the processes (in place; returned for convenience)."""
    if ctx.enabled and ctx.world_size > 1:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def wrap_model(model: torch.nn.Module, ctx: DistContext, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` when distributed, else the model itself."""
    if not (ctx.enabled and ctx.world_size > 1):
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_worker(rank: int, fn: Callable[..., Any], world_size: int, port: int, timeout_s: float,
                  args: tuple) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank), TIMEOUT_ENV: str(timeout_s)})
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    torch.set_num_threads(1)
    # If this rank is still running shortly before the launcher's deadline, print where
    # (every thread's stack, to stderr) so that a hang can be diagnosed from a log.
    faulthandler.dump_traceback_later(max(0.85 * timeout_s, 1.0), exit=False)
    fn(rank, *args)       # an error propagates (torch reports it to the launcher)
    # Success: meet the other ranks, then end this process without destroy_process_group.
    # Measured here (torch 2.3, gloo): the destroy hung now and then with the GIL held (1 run
    # in ~10; 1 in ~240 after a barrier), so no watchdog thread could even run; the work is
    # done and every rank has passed the barrier, so the process ends at once (the OS closes
    # the sockets) with exit status 0.
    if dist.is_initialized():
        dist.barrier()
    faulthandler.cancel_dump_traceback_later()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def launch_local(fn: Callable[..., Any], world_size: int, *args: Any, timeout_s: float = 120.0) -> None:
    """Run ``fn(rank, *args)`` in ``world_size`` local processes with torchrun's environment
    variables set, so that :func:`init_from_env` joins a gloo group on CPU over the loopback
    interface. The processes are spawned, not forked (a fork copies the parent's locks in
    whatever state its other threads hold them; a test process that ran Lava, tqdm and
    OpenMP before has several): ``fn`` and ``args`` must be picklable (a module-level
    function), and a start costs a fresh import of torch (a few seconds). After ``fn``
    returns, the ranks meet at a barrier and end without destroying the process group
    (gloo's destroy hung now and then: :func:`_local_worker`). Raises if any process fails,
    and :class:`DistributedError` (after killing them) if they have not all finished within
    ``timeout_s`` seconds; a rank still running at 85 % of it prints its stacks first."""
    import torch.multiprocessing as mp

    if not timeout_s > 0:
        raise ConfigError("timeout_s", f"must be positive, got {timeout_s!r}")
    procs = mp.start_processes(_local_worker, args=(fn, world_size, _free_port(), timeout_s, args),
                               nprocs=world_size, join=False, start_method="spawn")
    deadline = time.monotonic() + timeout_s
    while not procs.join(timeout=0.5):
        if time.monotonic() > deadline:
            alive = [rank for rank, p in enumerate(procs.processes) if p.is_alive()]
            for p in procs.processes:
                if p.is_alive():
                    p.kill()
            for p in procs.processes:
                p.join(5)
            raise DistributedError(world_size, timeout_s, alive)
