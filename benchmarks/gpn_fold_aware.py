"""Fold-aware GPN training: source accuracy against folded (Loihi 1) accuracy, one run per penalty weight.

``[training] gate_variance_reg = W`` adds W x (the within-neuron variance of the four gates,
averaged over gates and neurons) to the loss, annealed from 0 in the first epoch to W in the
last. The Loihi 1 fold makes each gate a constant per neuron, so a gate that moves less
folds with less loss. For each W: train gpn-small with the main job's GPN settings (128
hidden, T = 40 binary frames, 10 epochs, early stop after 4, seed 0) on the default data,
then fold it (``--clusters 4``) without fine-tuning and with the main job's distillation,
and record the test accuracies, the gates' mean within-neuron std (the fold report's), and
the plot of source against folded accuracy.

Run: .venv/bin/python benchmarks/gpn_fold_aware.py [--weights 0 3 10 30] [--json out.json] [--plot out.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

CACHE = Path.home() / ".cache" / "spikedeploy"


def one(weight: float, data: Path, work: Path) -> dict:
    from spikedeploy.stages.fold import FoldConfig, FoldOptions, fold
    from spikedeploy.stages.pipeline_config import MAIN_FOLD
    from spikedeploy.training.loop import run_training
    from spikedeploy.training.run_config import RunConfig

    t0 = time.perf_counter()
    run = RunConfig.resolve(preset="gpn-small", binning={"n_steps": 40, "binary": True},
                            training={"epochs": 10, "early_stop_patience": 4, "seed": 0,
                                      "gate_variance_reg": weight})
    ckpt = work / f"gpn-w{weight:g}.pt"
    res = run_training(run.network, run.binning, run.training, data, ckpt, device="cpu", progress=False)
    plain = fold(FoldOptions(ckpt, work / f"f{weight:g}.pt", data, FoldConfig(clusters=4, calib_samples=512),
                             progress=False))
    tuned = fold(FoldOptions(ckpt, work / f"t{weight:g}.pt", data, FoldConfig(**MAIN_FOLD), progress=False))
    gates = plain.report["layers"][0]["gates"]
    return {"weight": weight, "source": res.test_acc, "best_epoch": res.best_epoch,
            "folded": plain.accuracy["folded"]["test"]["acc"], "folded_distilled": tuned.accuracy["finetuned"]["test"]["acc"],
            "within_neuron_std": {g: gates[g]["within_neuron_std"] for g in ("forget", "input", "bypass", "threshold")},
            "seconds": time.perf_counter() - t0}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikedeploy.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    for key, marker, label in (("folded", "o", "folded (no fine-tuning)"),
                               ("folded_distilled", "s", "folded + distillation (main job's)")):
        ax.plot([100 * r["source"] for r in rows], [100 * r[key] for r in rows], marker, ls="-", label=label)
        for r in rows:
            ax.annotate(f"W={r['weight']:g}", (100 * r["source"], 100 * r[key]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    lo = min(min(100 * r["folded"] for r in rows), min(100 * r["source"] for r in rows)) - 2
    hi = max(100 * r["source"] for r in rows) + 2
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="folded = source")
    ax.set_xlabel("source GPN test accuracy, %")
    ax.set_ylabel("folded (Loihi 1) test accuracy, %")
    ax.set_title("Fold-aware GPN training: gate-variance penalty W", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=CACHE / "synth-digits")
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 3.0, 10.0, 30.0])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    if not (args.data / "train.h5").is_file():
        print(f"{args.data}: no train.h5: run `scripts/sd main` (or `spikedeploy data synth-digits`) first",
              file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.weights:
            r = one(w, args.data, Path(tmp))
            rows.append(r)
            std = ", ".join(f"{g} {v:.4f}" for g, v in r["within_neuron_std"].items())
            print(f"W = {w:g}: source {100 * r['source']:.2f} % (best epoch {r['best_epoch']}), folded "
                  f"{100 * r['folded']:.2f} %, folded + distilled {100 * r['folded_distilled']:.2f} %; "
                  f"within-neuron gate std: {std} ({r['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
