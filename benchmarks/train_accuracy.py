"""Test accuracy and firing rates of GPN, recurrent LIF and recurrent CUBA-LIF, several seeds.

Trains each model with the project's training loop (the same as `spikedeploy train`:
Adam, LR on plateau, 15 % stratified validation split, early stopping on validation
accuracy, best-validation weights tested) on DIR/train.h5 and tests on DIR/test.h5
(default: the built-in synthetic digits), one hidden layer of the same size for all.
Prints per-run lines and a summary (mean and std over seeds of the test accuracy, the
mean firing rate per hidden layer on the test set, epochs and time), and with --json
writes everything.

Models (presets, with --hidden and --time-steps applied to all):
  gpn   gpn-small: 700 -> H GPN -> dropout 0.25 -> mean-over-time linear -> 20
  lif   lif-shd:   700 -> H recurrent LIF -> dropout 0.1 -> LI readout (max over time) -> 20
  cuba  cuba-shd:  700 -> H recurrent CUBA-LIF -> dropout 0.1 -> LI readout (max) -> 20
  (also: lif-ff, feed-forward LIF; gpn-li / lif-ml: GPN with the LI readout, LIF with the
  mean-linear readout, to separate the neuron from the readout)

Run: .venv/bin/python benchmarks/train_accuracy.py [--epochs 25] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

MODELS = {
    "gpn": ("gpn-small", {}),
    "lif": ("lif-shd", {}),
    "cuba": ("cuba-shd", {}),
    "lif-ff": ("lif-ff-shd", {}),
    "gpn-li": ("gpn-small", {"readout": "li", "readout_reduce": "max", "synapse_bias": False}),
    "lif-ml": ("lif-shd", {"readout": "mean-linear"}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with train.h5/test.h5 (default: the built-in digits)")
    ap.add_argument("--models", nargs="+", default=["gpn", "lif", "cuba"], choices=sorted(MODELS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--time-steps", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--patience", type=int, default=6, help="early stopping patience (epochs)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoints", default=None, help="folder to keep the checkpoints in (default: none)")
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    ap.add_argument("--verbose", action="store_true", help="print every epoch")
    args = ap.parse_args(argv)

    import torch

    from spikedeploy.data.shd import BinningConfig
    from spikedeploy.models import get_preset
    from spikedeploy.paths import default_data_dir
    from spikedeploy.training.config import TrainConfig
    from spikedeploy.training.loop import run_training

    torch.set_num_threads(args.threads)
    data_dir = Path(args.data) if args.data else default_data_dir()
    if not (data_dir / "train.h5").is_file():
        print(f"no data set at {data_dir}: build it with `spikedeploy data synth-digits` or pass --data",
              file=sys.stderr)
        return 2
    ckpt_dir = Path(args.checkpoints) if args.checkpoints else None
    if ckpt_dir:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    binning = BinningConfig(n_steps=args.time_steps)
    runs = []
    t_all = time.perf_counter()
    for name in args.models:
        preset, changes = MODELS[name]
        p = get_preset(preset)
        net = p.network.replace(hidden=[args.hidden] * len(p.network.hidden), **changes)
        for seed in args.seeds:
            train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
                                early_stop_patience=args.patience)
            out = ckpt_dir / f"{name}-seed{seed}.pt" if ckpt_dir else None
            res = run_training(net, binning, train, data_dir, out, device="cpu", progress=args.verbose,
                               extra={"benchmark": "train_accuracy", "model": name}, log=print)
            run = {"model": name, "preset": preset, "changes": changes, "seed": seed, "test_acc": res.test_acc,
                   "best_val_acc": res.best_val_acc, "best_epoch": res.best_epoch, "epochs": len(res.history),
                   "rates": res.firing_rates, "seconds": res.seconds, "parameters": res.n_parameters}
            runs.append(run)
            print(f"{name:<7} seed {seed}: test {res.test_acc:.4f} (val {res.best_val_acc:.4f} at epoch "
                  f"{res.best_epoch}/{len(res.history)}), rates {[round(r, 4) for r in res.firing_rates]}, "
                  f"{res.n_parameters:,} parameters, {res.seconds:.0f} s", flush=True)
    total = time.perf_counter() - t_all
    print(f"\ndata {data_dir}, T = {args.time_steps}, hidden {args.hidden}, epochs <= {args.epochs} "
          f"(patience {args.patience}), batch {args.batch_size}, lr {args.lr}, seeds {args.seeds}, "
          f"threads {args.threads}; total {total / 60:.1f} min")
    print(f"{'model':<8}{'test acc mean':>14}{'std':>8}{'min':>8}{'max':>8}{'rate/layer':>14}{'epochs':>8}"
          f"{'s/run':>8}")
    summary = {}
    for name in args.models:
        rs = [r for r in runs if r["model"] == name]
        accs = [r["test_acc"] for r in rs]
        rates = [statistics.mean(r["rates"][k] for r in rs) for k in range(len(rs[0]["rates"]))]
        summary[name] = {"mean": statistics.mean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                         "rates": rates, "epochs": statistics.mean(r["epochs"] for r in rs),
                         "seconds": statistics.mean(r["seconds"] for r in rs)}
        s = summary[name]
        print(f"{name:<8}{s['mean']:>14.4f}{s['std']:>8.4f}{min(accs):>8.4f}{max(accs):>8.4f}"
              f"{', '.join(f'{r:.4f}' for r in rates):>14}{s['epochs']:>8.1f}{s['seconds']:>8.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "runs": runs, "summary": summary,
                                               "total_seconds": total}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
