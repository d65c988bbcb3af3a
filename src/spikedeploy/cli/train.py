"""``spikedeploy train``: train a spiking network on SHD-format data and write a checkpoint.

Settings come from a preset (``--preset``), optionally a TOML file (``--config``,
see :mod:`spikedeploy.training.run_config`) and then the flags, in that order of
precedence. Under ``torchrun`` it trains with DistributedDataParallel, one process
per GPU (or CPU process with gloo), the global batch split across processes.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 128 or 256,128, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive layer sizes, got {text!r}")
    return sizes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a spiking network (LIF, CUBA-LIF, GPN) on SHD-format data",
        description="Train a spiking network on DIR/train.h5 (15 %% held out, stratified, for validation) "
                    "and test it on DIR/test.h5; write a weights-only checkpoint (docs/checkpoint-format.md). "
                    "Multi-GPU / multi-node: launch it with torchrun, e.g. "
                    "`torchrun --nproc_per_node 4 -m spikedeploy train ...`.")
    p.add_argument("--preset", default=None, metavar="NAME",
                   help="network and training preset (default cuba-shd): lif-shd, cuba-shd, lif-ff-shd, "
                        "gpn-small, pr-v2-shd, s2net-shd (T = 100, 128 hidden), gpn-shd, gpn-ssc (the GPN "
                        "paper's networks)")
    p.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                   help="TOML file with preset/data/out keys and [model], [binning], [training] tables")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="folder with train.h5 and test.h5 (default: the built-in data set, "
                        "see `spikedeploy data where`)")
    p.add_argument("--out", type=Path, default=None, help="checkpoint to write (default model.pt)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    p.add_argument("--hidden", type=_hidden, default=None, metavar="H[,H...]",
                   help="hidden layer size(s): one number sets every hidden layer, a list sets each")
    p.add_argument("--time-steps", type=int, default=None, metavar="T", help="frames per sample (binning)")
    p.add_argument("--batch-size", type=int, default=None, help="global batch size")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--activity-reg", type=float, default=None, metavar="W",
                   help="weight of the spike-count penalty (energy on the chip follows spikes)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(handler=_train, preload="spikedeploy.stages.train")


def _train(args: argparse.Namespace) -> int:
    # lazy: keeps `spikedeploy --help` free of torch
    from ..stages.train import RunConfig, TrainOptions, train

    hidden = {}
    if args.hidden is not None:
        hidden = {"hidden_size": args.hidden[0]} if len(args.hidden) == 1 else {"model": {"hidden": args.hidden}}
    training = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                      seed=args.seed, activity_reg=args.activity_reg).items() if v is not None}
    binning = {} if args.time_steps is None else {"n_steps": args.time_steps}
    run = RunConfig.resolve(preset=args.preset, config_file=args.config, binning=binning, training=training,
                            data_dir=args.data, out=args.out, **hidden)
    result = train(TrainOptions(run=run, device=args.device, threads=args.threads, config_file=args.config,
                                progress=not args.no_progress), log=print)
    if result.checkpoint is not None:
        if args.no_progress:   # with progress the training loop has said it, with the firing rates
            print(f"test accuracy: {result.test_acc:.4f}")
        print(f"checkpoint: {result.checkpoint}")
    return 0
