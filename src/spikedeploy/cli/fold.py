"""``spikedeploy fold``: fold a GPN, s2net or pr-v2 checkpoint into a LIF / CUBA-LIF checkpoint (docs/folding.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .convert import foreign_args, foreign_source


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fold", help="fold a GPN, s2net or pr-v2 network into a deployable LIF / CUBA-LIF checkpoint",
        description="GPN: replace each gate by a per-neuron constant taken from calibration data (the "
                    "network's training split of DIR), fold the constants into a LIF network (input and "
                    "threshold gates scale the weight rows, the forget gate becomes the voltage decay, the bypass "
                    "a bias). s2net: its W W^T reset and lateral inhibition become a LIF layer's recurrent "
                    "weight (exact with s2net_reset = 'zero'). pr-v2: forget gates become CUBA-LIF current "
                    "decays, graded outputs binary spikes (approximate). Decays are clustered into at most K "
                    "hardware profiles; optionally fine-tune towards the source network's logits; write a "
                    "normal LIF / CUBA-LIF checkpoint with the fold report in its metadata. See docs/folding.md.")
    p.add_argument("checkpoint", type=Path, metavar="MODEL.pt",
                   help="a GPN, s2net or pr-v2 checkpoint (spikedeploy train)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="folder with train.h5 and test.h5 (default: the built-in data set, "
                        "see `spikedeploy data where`)")
    p.add_argument("-o", "--out", type=Path, default=None, metavar="OUT",
                   help="folded checkpoint to write (default folded.pt); a Loihi 2 pr-v2 fold writes an integer "
                        "network file (default folded-loihi2.npz)")
    p.add_argument("--target", default="loihi1", choices=("loihi1", "loihi2"),
                   help="loihi1 (default): binary spikes, gates folded into constants. loihi2: the gates are "
                        "computed by the neuron (hard sigmoid / tanh) with graded spikes: a pr-v2 network keeps its "
                        "forget gates and graded multi-bit outputs, a GPN its four gates (its state broadcast as "
                        "graded payloads); other networks need no graded spikes and fold as for loihi1")
    p.add_argument("--method", default="mean", choices=("mean", "lsq"),
                   help="GPN only: per-neuron gate statistic: mean gate value (default), or least-squares fit "
                        "of the update")
    p.add_argument("--clusters", "-k", type=int, default=8, metavar="K",
                   help="at most K distinct decays (LIF processes) per layer (default 8)")
    p.add_argument("--calib-samples", type=int, default=1024, metavar="N",
                   help="training samples for the statistics (0: all; default 1024)")
    p.add_argument("--finetune-epochs", type=int, default=0, metavar="E",
                   help="epochs of distillation towards the source network's logits (default 0: none)")
    p.add_argument("--lr", type=float, default=2e-3, help="fine-tuning learning rate (default 2e-3)")
    p.add_argument("--distill-loss", default="kl", choices=("kl", "mse"), help="loss on the logits (default kl)")
    p.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of the KL loss")
    p.add_argument("--label-weight", type=float, default=0.0, metavar="W",
                   help="add W x cross entropy on the true labels to the distillation loss")
    p.add_argument("--finetune-decays", action="store_true",
                   help="let the decays learn too, re-clustered onto K values after every epoch")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--seed", type=int, default=0, help="calibration subset, batch order, dropout")
    p.add_argument("--device", default="cpu", help="cpu (default), auto, cuda or cuda:N")
    foreign_args(p, required=False)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG",
                   help="also draw each layer's decays and their K profiles into this PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_fold, preload="spikedeploy.stages.fold")


def _fold(args: argparse.Namespace) -> int:
    from ..stages.fold import FoldConfig, FoldOptions, fold, format_graded_report, format_report  # lazy: no torch

    config = FoldConfig(method=args.method, clusters=args.clusters, calib_samples=args.calib_samples,
                        batch_size=args.batch_size, finetune_epochs=args.finetune_epochs, finetune_lr=args.lr,
                        distill_loss=args.distill_loss, temperature=args.temperature,
                        label_weight=args.label_weight, finetune_decays=args.finetune_decays, seed=args.seed)
    result = fold(FoldOptions(checkpoint=args.checkpoint, out=args.out, data_dir=args.data, config=config,
                              device=args.device, threads=args.threads, plot=args.plot,
                              progress=not args.no_progress, foreign=foreign_source(args), target=args.target),
                  log=print)
    graded = result.report.get("graded", False)
    print((format_graded_report if graded else format_report)(result.report))
    print(f"target {args.target}: " + ("gates computed, graded spikes (" + (
        "multi-bit payloads between layers" if result.report.get("kind") == "pr-v2" else
        "binary spikes out, the state broadcast as graded payloads") + ")" if graded else
        "binary spikes (outputs not graded)"))
    print(f"{'Loihi 2 network' if graded else 'folded checkpoint'}: {result.checkpoint}")
    if result.plot is not None:
        print(f"decay plot: {result.plot}")
    return 0
