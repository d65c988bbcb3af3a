"""Distillation: fine-tune a folded network towards its source network's logits."""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import TrainingError
from ..models.networks import SpikingNetwork
from ..training.loop import evaluate
from .common import FoldConfig, batches, recluster_

def _distill_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, cfg: FoldConfig) -> torch.Tensor:
    if cfg.distill_loss == "kl":
        t = cfg.temperature
        loss = F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), log_target=True,
                        reduction="batchmean") * t * t
    else:
        loss = F.mse_loss(student, teacher)
    if cfg.label_weight > 0:
        loss = loss + cfg.label_weight * F.cross_entropy(student, y)
    return loss


@torch.no_grad()
def logits_of(net: SpikingNetwork, x: torch.Tensor, batch_size: int = 128,
              forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Evaluation-mode logits [N, n_classes] (float32, CPU) of frames ``x`` [N, T, F]: ``net``'s
    own, or ``forward(batch)``'s (another computation of the same network, e.g. with hard gates)."""
    was = net.training
    net.eval()
    ref = next(net.parameters())
    run = net if forward is None else forward
    out = [run(xb).float().cpu() for xb in batches(x, batch_size, ref.device, ref.dtype)]
    net.train(was)
    return torch.cat(out)


def distill(student: SpikingNetwork, teacher: SpikingNetwork, train, val, config: FoldConfig, *,
            progress: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``student`` (in place) towards ``teacher``'s evaluation-mode logits on
    ``train`` (a :class:`~spikedeploy.training.loop.TensorData`) for ``config.finetune_epochs``
    epochs of Adam; keep the weights of the epoch with the best accuracy on ``val`` (epoch 0,
    the folded network itself, included, so fine-tuning never lowers it). With
    ``finetune_decays`` the decays learn too and are re-clustered onto ``config.clusters``
    values after every epoch. Returns the history and the best epoch."""
    say = log or (lambda msg: None)
    ref = next(student.parameters())
    device, dtype = ref.device, ref.dtype
    teacher_logits = logits_of(teacher, train.x, config.batch_size)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.finetune_lr)
    torch.manual_seed(config.seed * 7919 + 3)
    best = evaluate(student, val, batch_size=max(config.batch_size, 128), device=device)
    history = [{"epoch": 0, "val_acc": best["acc"], "val_loss": best["loss"], "train_loss": None}]
    best_acc, best_epoch = best["acc"], 0
    best_state = copy.deepcopy({k: v.detach().clone() for k, v in student.state_dict().items()})
    n = len(train)
    for epoch in range(1, config.finetune_epochs + 1):
        student.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + epoch))
        total, seen = 0.0, 0
        n_batches = math.ceil(n / config.batch_size)
        for b0 in tqdm(range(0, n, config.batch_size), total=n_batches, desc=f"distill {epoch}/{config.finetune_epochs}",
                       unit="batch", leave=False, disable=not progress):
            idx = perm[b0:b0 + config.batch_size]
            x, y = train.batch(idx, device)
            loss = _distill_loss(student(x.to(dtype)), teacher_logits[idx].to(device, dtype), y, config)
            if not torch.isfinite(loss):
                raise TrainingError(f"the distillation loss is not finite ({float(loss)})", epoch=epoch,
                                    remedy="lower the fine-tuning learning rate (--lr)")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        if config.finetune_decays:
            with torch.no_grad():
                recluster_(student, config.clusters)
        m = evaluate(student, val, batch_size=max(config.batch_size, 128), device=device)
        rec = {"epoch": epoch, "train_loss": total / max(seen, 1), "val_acc": m["acc"], "val_loss": m["loss"],
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        improved = m["acc"] > best_acc
        if improved:
            best_acc, best_epoch = m["acc"], epoch
            best_state = {k: v.detach().clone() for k, v in student.state_dict().items()}
        say(f"distill epoch {epoch}: loss {rec['train_loss']:.4f} | val acc {m['acc']:.4f}"
            f"{' *' if improved else ''} | {rec['seconds']:.1f} s")
    student.load_state_dict(best_state)
    student.eval()
    return {"history": history, "best_epoch": best_epoch, "best_val_acc": best_acc}
