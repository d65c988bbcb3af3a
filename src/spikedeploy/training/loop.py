"""The training loop: Adam, LR on plateau, early stopping on validation accuracy.

Two levels:

- :func:`fit` trains a model on in-memory tensors (:class:`TensorData`) and
  returns the history and the best weights. It knows nothing about files; it is
  what the distributed test drives directly.
- :func:`run_training` is what ``spikedeploy train`` calls: it reads
  ``DIR/train.h5`` and ``DIR/test.h5`` (SHD format), holds out a stratified
  validation split, builds the network from its config, trains with :func:`fit`
  (under torchrun: DistributedDataParallel), writes the best model to a
  checkpoint whenever the validation accuracy improves, and finally reports and
  records the test accuracy and the firing rate of each hidden layer.

A loss that is not finite stops training with :class:`~spikedeploy.errors.TrainingError`;
the checkpoint on disk is then the last good one (checkpoints are written atomically).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..data.gsc import is_gsc_folder
from ..data.shd import ShdDataset, load_spikes, stratified_split
from ..errors import DataFormatError, ShapeMismatchError, TrainingError
from ..models.networks import NetworkConfig, SpikingNetwork, build_network
from .checkpoint import save_checkpoint, unwrap
from .config import TrainConfig
from .distributed import DistContext, all_reduce_sum, init_from_env, shard, shutdown, wrap_model
from .gsc_data import load_gsc_split
from .losses import gate_variance_penalty, sample_losses, track_gates


@dataclass
class TensorData:
    """Frames ``x`` [N, T, F] (any numeric dtype; uint8 saves memory) and labels ``y`` [N]."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 3 or self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ShapeMismatchError("data (x [N, T, F], y [N])", "matching N", (tuple(self.x.shape),
                                                                                  tuple(self.y.shape)))

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batch(self, idx: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``idx`` as float32 frames and int64 labels on ``device``."""
        return (self.x[idx].to(device=device, dtype=torch.float32, non_blocking=True),
                self.y[idx].to(device=device, dtype=torch.int64, non_blocking=True))


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_epoch: int
    best_val_acc: float
    best_state: dict[str, torch.Tensor]
    stopped_early: bool
    steps: int


def _compact(x: torch.Tensor) -> torch.Tensor:
    """uint8 when every value is an integer in 0..255 (binned spike counts), else x."""
    if x.dtype == torch.uint8 or x.numel() == 0:
        return x
    if bool((x >= 0).all()) and bool((x <= 255).all()) and bool((x == x.round()).all()):
        return x.to(torch.uint8)
    return x


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: TensorData, *, batch_size: int = 256,
             device: torch.device | str = "cpu", ctx: DistContext = DistContext(),
             activity_reg: float = 0.0) -> dict[str, Any]:
    """Loss, accuracy and per-layer firing rate (spikes per neuron per step) on ``data``,
    in evaluation mode. Under DDP each process evaluates its share and the sums are reduced."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    device = torch.device(device)
    idx = shard(torch.arange(len(data)), ctx)
    n_layers = len(net.layers)
    sums = torch.zeros(3 + n_layers, dtype=torch.float64)  # loss, correct, n, spikes per layer
    for b0 in range(0, len(idx), batch_size):
        x, y = data.batch(idx[b0:b0 + batch_size], device)
        logits, spikes = net(x, return_spikes=True)
        sums[0] += float(sample_losses(logits, y, spikes, activity_reg).sum())
        sums[1] += float((logits.argmax(1) == y).sum())
        sums[2] += len(y)
        for k, s in enumerate(spikes):  # events: non-zero outputs (graded outputs of pr-v2 too)
            sums[3 + k] += float((s != 0).flatten(1).float().mean(1).sum())
    sums = all_reduce_sum(sums.to(_reduce_device(ctx, device)), ctx).cpu()
    net.train(was_training)
    n = max(float(sums[2]), 1.0)
    return {"loss": float(sums[0]) / n, "acc": float(sums[1]) / n, "n": int(sums[2]),
            "rates": [float(r) / n for r in sums[3:]]}


def _reduce_device(ctx: DistContext, device: torch.device) -> torch.device:
    return device if ctx.backend == "nccl" else torch.device("cpu")


def _finite_everywhere(loss: torch.Tensor, ctx: DistContext, device: torch.device) -> bool:
    ok = torch.tensor([1.0 if bool(torch.isfinite(loss)) else 0.0], device=_reduce_device(ctx, device))
    if ctx.world_size > 1:
        torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
    return bool(ok.item() == 1.0)


def _grad_norm(params: list[torch.Tensor]) -> float:
    norms = [torch.linalg.vector_norm(p.grad.detach()) for p in params if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def _not_finite(problem: str, epoch: int, step: int, last_good: Path | None) -> TrainingError:
    return TrainingError(problem, epoch=epoch, step=step, last_good_checkpoint=last_good,
                         remedy="lower the learning rate (--lr), clip gradients (grad_clip in the config), "
                                "or check the data for NaN/inf values")


def _batch_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, epoch: int,
                scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(logits, per-sample losses, the batch's loss)``: the per-sample losses summed and scaled
    (world size / global batch), plus the annealed gate-variance penalty (a batch statistic)."""
    logits, spikes = model(x, return_spikes=True)
    per_sample = sample_losses(logits, y, spikes, cfg.activity_reg)
    loss = per_sample.sum() * scale
    gates = gate_variance_penalty(unwrap(model)) if cfg.gate_variance_reg > 0 else None
    if gates is not None:
        loss = loss + cfg.gate_variance_weight(epoch) * gates
    return logits, per_sample, loss


def fit(model: torch.nn.Module, train: TensorData, val: TensorData, cfg: TrainConfig, *,
        device: torch.device | str = "cpu", ctx: DistContext = DistContext(), progress: bool = True,
        on_improve: Callable[[dict[str, torch.Tensor], dict[str, Any]], Path | None] | None = None,
        max_steps: int | None = None, log: Callable[[str], None] | None = None) -> FitResult:
    """Train ``model`` (a SpikingNetwork, or one wrapped in DDP) on ``train``; validate each epoch.

    Adam(lr, weight_decay); ReduceLROnPlateau on validation accuracy (factor, patience);
    early stopping after ``cfg.early_stop_patience`` epochs without improvement. Each
    global batch of ``cfg.batch_size`` samples (order from ``cfg.seed`` and the epoch, the
    same in every process) is split across processes by :func:`shard`. ``on_improve(state,
    metrics)`` is called (main process only) when the validation accuracy improves and may
    return the path it saved to (reported if training later fails). ``max_steps`` stops
    after that many optimiser steps (tests). Returns the history and the best weights.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    net = unwrap(model)
    say = log or (lambda msg: tqdm.write(msg))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=cfg.lr_factor,
                                                       patience=cfg.lr_patience)
    torch.manual_seed(cfg.seed * 7919 + 1 + ctx.rank)  # dropout masks and GPN resets, per process
    history: list[dict[str, Any]] = []
    best_acc, best_epoch, bad_epochs, steps = -1.0, 0, 0, 0
    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in net.state_dict().items()})
    last_good: Path | None = None
    stopped_early = False
    n_train = len(train)
    track_gates(net, cfg.gate_variance_reg > 0)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(n_train, generator=gen)
        n_batches = math.ceil(n_train / cfg.batch_size)
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=False,
                   disable=not (progress and ctx.is_main), dynamic_ncols=True)
        sums = torch.zeros(3, dtype=torch.float64)  # loss, correct, n (this process)
        t0 = time.perf_counter()
        for b in range(n_batches):
            global_idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x, y = train.batch(shard(global_idx, ctx), device)
            logits, per_sample, loss = _batch_loss(model, x, y, cfg, epoch, ctx.world_size / len(global_idx))
            if not _finite_everywhere(loss, ctx, device):
                raise _not_finite(f"the loss is not finite ({float(loss)})", epoch, steps + 1, last_good)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            # A NaN input or weight can leave the loss finite (NaN never crosses a threshold, so the
            # spikes stay 0/1) while the surrogate gradients are NaN: check them before the update.
            # After DDP's all-reduce the gradients are the same in every process.
            grad_norm = _grad_norm(params)
            if not math.isfinite(grad_norm):
                raise _not_finite(f"the gradients are not finite (norm {grad_norm})", epoch, steps + 1, last_good)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            net.constrain_()
            steps += 1
            sums += torch.tensor([float(per_sample.detach().sum()), float((logits.argmax(1) == y).sum()), len(y)],
                                 dtype=torch.float64)
            bar.update(1)
            bar.set_postfix(loss=f"{sums[0] / max(sums[2], 1):.3f}", acc=f"{sums[1] / max(sums[2], 1):.3f}")
            if max_steps is not None and steps >= max_steps:
                break
        bar.close()
        sums = all_reduce_sum(sums.to(_reduce_device(ctx, device)), ctx).cpu()
        val_m = evaluate(model, val, batch_size=max(cfg.batch_size, 128), device=device, ctx=ctx,
                         activity_reg=cfg.activity_reg)
        sched.step(val_m["acc"])
        rec = {"epoch": epoch, "train_loss": float(sums[0] / max(sums[2], 1)),
               "train_acc": float(sums[1] / max(sums[2], 1)), "val_loss": val_m["loss"],
               "val_acc": val_m["acc"], "val_rates": val_m["rates"], "lr": opt.param_groups[0]["lr"],
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        improved = val_m["acc"] > best_acc
        if improved:
            best_acc, best_epoch, bad_epochs = val_m["acc"], epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            if on_improve is not None and ctx.is_main:
                last_good = on_improve(best_state, {"best_epoch": epoch, "best_val_acc": best_acc,
                                                    "history": history}) or last_good
        else:
            bad_epochs += 1
        if progress and ctx.is_main:
            rates = ", ".join(f"{r:.3f}" for r in val_m["rates"])
            say(f"epoch {epoch}: train loss {rec['train_loss']:.4f} acc {rec['train_acc']:.3f} | "
                f"val loss {rec['val_loss']:.4f} acc {rec['val_acc']:.3f}{' *' if improved else ''} | "
                f"rates [{rates}] | lr {rec['lr']:.2e} | {rec['seconds']:.1f} s")
        if max_steps is not None and steps >= max_steps:
            break
        if cfg.early_stop_patience and bad_epochs >= cfg.early_stop_patience:
            stopped_early = True
            if progress and ctx.is_main:
                say(f"early stop: no better validation accuracy for {bad_epochs} epochs")
            break
    track_gates(net, False)
    return FitResult(history, best_epoch, best_acc, best_state, stopped_early, steps)


# ----------------------------------------------------------------------------- from files

@dataclass
class TrainResult:
    """What :func:`run_training` produced."""

    checkpoint: Path | None
    test_acc: float
    test_loss: float
    best_val_acc: float
    best_epoch: int
    firing_rates: list[float]
    history: list[dict[str, Any]] = field(default_factory=list)
    n_parameters: int = 0
    seconds: float = 0.0


def load_split(data_dir: str | Path, binning, network: NetworkConfig, val_fraction: float, seed: int,
               progress: bool = True, noise_prob: float = 0.0):
    """Read ``data_dir/{train,test}.h5``; return (train, val, test) TensorData, the binning
    actually used (channels taken from the file), the class names and split sizes. A GSC
    folder (:mod:`.gsc_data`) gives its log-Mel features instead (``noise_prob``: background
    noise mixed into training clips), and no binning (None)."""
    data_dir = Path(data_dir)
    if is_gsc_folder(data_dir):
        tr, va, te, info = load_gsc_split(data_dir, network, val_fraction, seed, noise_prob)
        return TensorData(*tr), TensorData(*va), TensorData(*te), None, info
    paths = {name: data_dir / f"{name}.h5" for name in ("train", "test")}
    for name, p in paths.items():
        if not p.is_file():
            raise DataFormatError(p, f"the {name} file is missing",
                                  remedy="DIR must hold train.h5 and test.h5 in the SHD format; build the default "
                                         "data set with `spikedeploy data synth-digits` (see `spikedeploy data where`)")
    spikes = {name: load_spikes(p) for name, p in paths.items()}
    channels = spikes["train"].n_channels
    if spikes["test"].n_channels != channels:
        raise ShapeMismatchError(f"channels of {paths['test']}", channels, spikes["test"].n_channels)
    if channels % binning.pool:
        raise ShapeMismatchError(f"channels of {paths['train']} (pool {binning.pool})",
                                 f"a multiple of {binning.pool}", channels)
    binning = binning.replace(n_channels=channels)
    if binning.n_features != network.input_size:
        conv = hasattr(network, "bands")      # s2net's conv network: channels x bands per frame
        remedy = (f"GSC presets read a Google Speech Commands folder (--data DIR holding testing_list.txt); "
                  f"for SHD-format data set the model's in_channels = 1 and bands = {binning.n_features}" if conv else
                  f"set the model's input_size to {binning.n_features}")
        raise ShapeMismatchError(
            f"features per frame of {paths['train']} ({channels} channels / pool {binning.pool})",
            network.input_size, binning.n_features,
            remedy=f"{remedy} (or the binning's pool so that channels / pool = {network.input_size})")
    n_classes = spikes["train"].n_classes
    if n_classes != network.n_classes or int(spikes["test"].labels.max()) >= network.n_classes:
        raise ShapeMismatchError(f"classes of {paths['train']}", network.n_classes, n_classes,
                                 remedy=f"set the model's n_classes to {n_classes} (e.g. [model] n_classes = "
                                        f"{n_classes} in the TOML config)")
    train_ds = ShdDataset(spikes["train"], binning, progress=progress)
    test_ds = ShdDataset(spikes["test"], binning, progress=progress)
    tr_idx, va_idx = stratified_split(train_ds.labels, val_fraction, seed)
    x, y = train_ds.tensors()
    x = _compact(x)
    train = TensorData(x[torch.from_numpy(tr_idx)], y[torch.from_numpy(tr_idx)])
    val = TensorData(x[torch.from_numpy(va_idx)], y[torch.from_numpy(va_idx)])
    xt, yt = test_ds.tensors()
    test = TensorData(_compact(xt), yt)
    info = {"data_dir": str(data_dir), "n_train": len(train), "n_val": len(val), "n_test": len(test),
            "keys": list(train_ds.keys), "channels": channels}
    return train, val, test, binning, info


def run_training(network: NetworkConfig, binning, training: TrainConfig, data_dir: str | Path,
                 out: str | Path | None = "model.pt", *, device: str = "auto", progress: bool = True,
                 extra: dict[str, Any] | None = None,
                 log: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``network`` on ``data_dir/train.h5``, test on ``data_dir/test.h5``; write ``out``.

    Under torchrun (environment variables present) this runs distributed (see
    :mod:`.distributed`); only rank 0 writes the checkpoint and prints.
    """
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    ctx, dev = init_from_env(device)
    say = log or (lambda msg: tqdm.write(msg))
    try:
        train, val, test, binning, info = load_split(data_dir, binning, network, training.val_fraction,
                                                     training.seed, progress=progress and ctx.is_main,
                                                     noise_prob=training.noise_prob)
        torch.manual_seed(training.seed)
        net = build_network(network).to(dev)
        if binning is None and hasattr(net, "set_input_norm"):     # real-valued features: standardise them
            net.set_input_norm(train.x.float().mean(dim=(0, 1)), train.x.float().std(dim=(0, 1)))
        model = wrap_model(net, ctx, dev)
        extra = {**(extra or {}), "data": info, "world_size": ctx.world_size, "device": str(dev)}
        if ctx.is_main and progress:
            say(f"training {network.neuron} {list(network.hidden)} ({net.n_parameters():,} parameters) on "
                f"{info['n_train']} samples ({info['n_val']} for validation, {info['n_test']} test), "
                f"T = {train.x.shape[1]}, device {dev}" + (f", {ctx.world_size} processes" if ctx.world_size > 1 else ""))

        def save(state: dict[str, torch.Tensor], metrics: dict[str, Any]) -> Path | None:
            if out is None:
                return None
            return save_checkpoint(out, net, state_dict=state, binning=binning, training=training,
                                   metrics=metrics, seed=training.seed, extra=extra)

        result = fit(model, train, val, training, device=dev, ctx=ctx, progress=progress,
                     on_improve=save, log=say)
        net.load_state_dict(result.best_state)
        test_m = evaluate(model, test, batch_size=max(training.batch_size, 128), device=dev, ctx=ctx)
        metrics = {"history": result.history, "best_epoch": result.best_epoch,
                   "best_val_acc": result.best_val_acc, "test_acc": test_m["acc"], "test_loss": test_m["loss"],
                   "test_firing_rates": test_m["rates"], "stopped_early": result.stopped_early,
                   "steps": result.steps}
        ckpt = None
        if out is not None and ctx.is_main:
            ckpt = save_checkpoint(out, net, binning=binning, training=training, metrics=metrics,
                                   seed=training.seed, extra=extra)
        seconds = time.perf_counter() - t_start
        if ctx.is_main and progress:
            say(f"test accuracy {test_m['acc']:.4f} (best validation {result.best_val_acc:.4f} at epoch "
                f"{result.best_epoch}); firing rates {[round(r, 4) for r in test_m['rates']]}; "
                f"{seconds:.0f} s" + (f"; saved {ckpt}" if ckpt else ""))
        return TrainResult(ckpt, test_m["acc"], test_m["loss"], result.best_val_acc, result.best_epoch,
                           test_m["rates"], result.history, net.n_parameters(), seconds)
    finally:
        shutdown(ctx)


def build_and_seed(network: NetworkConfig, seed: int) -> SpikingNetwork:
    """The network built after ``torch.manual_seed(seed)`` (what run_training does)."""
    torch.manual_seed(seed)
    return build_network(network)
