"""The three model families of the source papers on their way to Loihi, on the default data:
source float -> folded -> folded + distilled -> quantised (bit-exact emulator) -> Lava.

Families (``--families``):

- ``s2net-zero``: s2net dense layer with lateral connections trained with the reset to
  zero (``s2net_reset = "zero"``): the fold is exact;
- ``s2net``: the paper's subtractive reset: the fold approximates it (expected remainder);
- ``pr-v2``: Ponghiran & Roy's improved recurrence v2 (6-bit graded outputs): the fold
  approximates the gate, the ReLU and the graded outputs;
- ``gpn``: the gated parametric neuron (its full study is benchmarks/accuracy_chain.py).

Each is trained here with the project's loop (its preset, ``--hidden`` neurons, ``--time-steps``
binary frames, up to ``--epochs`` with early stopping), folded with ``--clusters`` decay
profiles and ``--finetune-epochs`` of distillation (KL + ``--label-weight`` x cross entropy),
quantised (calibrated on ``--quant-calib`` training samples) and run in the emulator on the
validation split and the test file; then exported to NIR and run in Lava (fixed_pt) on
``--lava-samples`` test samples with ``--verify`` (spike-for-spike against the emulator).

Run: .venv/bin/python benchmarks/families_chain.py [--json families.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

PRESET = {"s2net-zero": ("s2net-shd", {"s2net_reset": "zero"}), "s2net": ("s2net-shd", {}),
          "pr-v2": ("pr-v2-shd", {}), "gpn": ("gpn-small", {})}


def _train(family: str, args, data_dir: Path, out: Path) -> dict:
    from spikedeploy.training.loop import run_training
    from spikedeploy.training.run_config import RunConfig

    preset, model = PRESET[family]
    run = RunConfig.resolve(preset=preset, model={"hidden": [args.hidden], **model},
                            binning={"n_steps": args.time_steps, "binary": True},
                            training={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                      "early_stop_patience": args.patience, "seed": args.seed})
    res = run_training(run.network, run.binning, run.training, data_dir, out, device="cpu", progress=False,
                       extra={"preset": preset, "run": run.to_dict()})
    return {"test_acc": res.test_acc, "best_val_acc": res.best_val_acc, "best_epoch": res.best_epoch,
            "epochs": len(res.history), "seconds": res.seconds}


def _lava(folded: Path, data_dir: Path, work: Path, family: str, args) -> dict:
    import io
    from contextlib import redirect_stdout

    from spikedeploy.cli import main as cli
    from spikedeploy.lava_backend.results import read_results

    graph = work / f"{family}.nir"
    results = work / f"{family}_lava.npz"
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = cli(["export-nir", str(folded), "-o", str(graph), "--quantized", "--data", str(data_dir),
                    "--calib-samples", str(args.quant_calib), "--seed", str(args.seed)])
    if code != 0:
        return {"error": f"export-nir exited {code}: {buf.getvalue()[-400:]}"}
    buf = io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(buf):
        code = cli(["lava-run", str(graph), "--data", str(data_dir), "--samples", str(args.lava_samples),
                    "--verify", "--out", str(results), "--no-progress"])
    wall = time.perf_counter() - t0
    text = buf.getvalue()
    if code != 0:
        return {"error": f"lava-run exited {code}", "output": text[-800:]}
    res = read_results(results)
    return {"samples": int(res.predictions.shape[0]), "accuracy": res.accuracy, "verified": res.meta["verified"],
            "bit_exact": "verify: bit-exact" in text, "wall_s": wall}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with train.h5/test.h5 (default: the built-in digits)")
    ap.add_argument("--work", default=None, help="folder for checkpoints and graphs (default: <cache>/families)")
    ap.add_argument("--families", nargs="+", default=["s2net-zero", "s2net", "pr-v2"], choices=sorted(PRESET))
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--time-steps", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--calib-samples", type=int, default=512)
    ap.add_argument("--finetune-epochs", type=int, default=20)
    ap.add_argument("--finetune-lr", type=float, default=5e-4,
                    help="distillation learning rate (2e-3, the fold's default, made the pr-v2 student collapse)")
    ap.add_argument("--label-weight", type=float, default=1.0)
    ap.add_argument("--quant-calib", type=int, default=256)
    ap.add_argument("--lava-samples", type=int, default=120)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from accuracy_chain import _quantise

    from spikedeploy.data.synth_digits import build_dataset
    from spikedeploy.paths import cache_dir
    from spikedeploy.stages.fold import FoldConfig, FoldOptions, fold, format_report

    torch.set_num_threads(args.threads)
    data_dir = Path(args.data) if args.data else build_dataset(progress=False).out_dir   # cached after the first build
    work = Path(args.work) if args.work else cache_dir() / "families"
    work.mkdir(parents=True, exist_ok=True)
    results = {"args": vars(args), "data": str(data_dir), "families": {}}
    for family in args.families:
        t0 = time.perf_counter()
        print(f"== {family}: training 700 -> {args.hidden} -> 20, T = {args.time_steps} binary ...", flush=True)
        src = work / f"{family}.pt"
        trained = _train(family, args, data_dir, src)
        print(f"   trained: test {trained['test_acc']:.4f} (best val {trained['best_val_acc']:.4f}, "
              f"{trained['epochs']} epochs, {trained['seconds']:.0f} s)", flush=True)
        cfg = FoldConfig(clusters=args.clusters, calib_samples=args.calib_samples, batch_size=args.batch_size,
                         finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
                         label_weight=args.label_weight, seed=args.seed)
        folded = fold(FoldOptions(src, work / f"{family}_folded.pt", data_dir, cfg, progress=False))
        print(format_report(folded.report), flush=True)
        q = _quantise(folded.checkpoint, data_dir, args.quant_calib, args.seed)
        print(f"   quantised (emulator): val {q['emu_val']:.4f} test {q['emu_test']:.4f}; decay groups "
              f"{q['decay_groups']}", flush=True)
        lava = _lava(folded.checkpoint, data_dir, work, family, args)
        print(f"   lava: {lava}", flush=True)
        acc = folded.report["accuracy"]
        kind = folded.report["kind"]
        results["families"][family] = {
            "trained": trained,
            "source": {s: acc[kind][s]["acc"] for s in ("val", "test")},
            "folded": {s: acc["folded"][s]["acc"] for s in ("val", "test")},
            "finetuned": {s: acc["finetuned"][s]["acc"] for s in ("val", "test")} if "finetuned" in acc else None,
            "quantised": {"val": q["emu_val"], "test": q["emu_test"], "decay_groups": q["decay_groups"],
                          "float_test": q["float_test"]},
            "rates": {"source": acc[kind]["test"]["rates"], "deployed": q["emu_test_rates"]},
            "lava": lava, "seconds": time.perf_counter() - t0,
        }
    print("\n| family | source float | folded | folded + distilled | quantised (emulator) | Lava (subset) |")
    print("|---|---|---|---|---|---|")
    for family, r in results["families"].items():
        ft = r["finetuned"]["test"] if r["finetuned"] else float("nan")
        lv = r["lava"]
        lava_txt = (f"{lv['accuracy']:.4f} on {lv['samples']}, bit-exact {lv['bit_exact']}" if "accuracy" in lv
                    else lv.get("error", "?"))
        print(f"| {family} | {r['source']['test']:.4f} | {r['folded']['test']:.4f} | {ft:.4f} | "
              f"{r['quantised']['test']:.4f} | {lava_txt} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
