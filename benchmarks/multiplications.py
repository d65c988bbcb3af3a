"""Multiplications on conventional hardware: the four families' source networks against GRU and LSTM.

Ponghiran & Roy (AAAI 2022) claim their improved-recurrence SNN reaches LSTM-level accuracy
with over 10x fewer multiplications than a GRU. Checked here on our data: the main job's
source checkpoints (before folding: pr-v2 with its gates and multi-bit outputs, the GPN
with its gate matrix, s2net with its lateral term, the LIF) are counted on the test split
by ``spikedeploy.metrics.source_ops.count_source_ops`` (non-zero inputs measured); a GRU
and an LSTM of the same width (one layer, read out from the last state) are trained here
on the same binned frames (Adam 1e-3, batch 64, the main job's epochs, the best epoch by a
seeded 10 % validation split of train.h5) and counted analytically (dense).

Run: .venv/bin/python benchmarks/multiplications.py [--checkpoints DIR] [--epochs 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from spikedeploy.data.shd import ShdDataset
from spikedeploy.metrics.source_ops import count_source_ops, recurrent_baseline_ops
from spikedeploy.paths import cache_dir, default_data_dir
from spikedeploy.training.baselines import train_baseline
from spikedeploy.training.checkpoint import load_checkpoint

FAMILIES = ("pr-v2", "gpn", "s2net", "lif")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", type=Path, default=None, help="the main job's checkpoints/ (default: cache)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    folder = args.checkpoints or cache_dir() / "main" / "checkpoints"
    rows = {}
    for fam in FAMILIES:
        model, meta = load_checkpoint(folder / f"{fam}.pt")
        binning = meta["binning"]
        x, y = ShdDataset(default_data_dir() / "test.h5", binning, progress=False).tensors()[:2]
        ops = count_source_ops(model, x, name=fam)
        rows[fam] = {"test_acc": meta["metrics"]["test_acc"], **ops.to_dict()}
    train = ShdDataset(default_data_dir() / "train.h5", binning, progress=False).tensors()[:2]
    test = (x.float(), torch.as_tensor(y).long())
    train = (train[0].float(), torch.as_tensor(train[1]).long())
    hidden, n_classes, steps = model.config.hidden[0], model.config.n_classes, x.shape[1]
    for cell in ("gru", "lstm"):
        trained = train_baseline(cell, train, test, hidden=hidden, n_classes=n_classes, epochs=args.epochs,
                                 log=lambda msg: print(" ", msg, flush=True))
        ops = recurrent_baseline_ops(cell, x.shape[-1], hidden, n_classes, steps)
        rows[cell] = {**trained.to_dict(), **ops.to_dict()}
    gru = rows["gru"]["multiplications"]
    print(f"\n{'network':8} {'test acc':>9} {'mults/inf':>12} {'accum/inf':>12} {'nonlin/inf':>11} {'GRU/this':>9}")
    for name, r in rows.items():
        print(f"{name:8} {100 * r['test_acc']:8.2f}% {r['multiplications']:12,.0f} {r['accumulates']:12,.0f} "
              f"{r['nonlinear']:11,.0f} {gru / r['multiplications']:8.1f}x")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"ponghiran-roy: pr-v2 {gru / rows['pr-v2']['multiplications']:.1f}x fewer multiplications than a GRU; "
          f"accuracy pr-v2 {100 * rows['pr-v2']['test_acc']:.2f} %, LSTM {100 * rows['lstm']['test_acc']:.2f} %, "
          f"GRU {100 * rows['gru']['test_acc']:.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
