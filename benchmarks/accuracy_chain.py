"""The accuracy chain of a GPN on its way to Loihi: GPN float -> folded -> folded + fine-tuned
-> quantised (bit-exact emulator), on the default data (or --data).

Steps (each reported with validation and test accuracy):

1. the GPN: ``--gpn CKPT``, or trained here with the project's training loop
   (preset gpn-shd, ``--hidden`` neurons, ``--time-steps`` frames, **binary** frames
   because Loihi's input spikes are binary, ``--epochs`` with early stopping);
2. folding (the fold stage, ``spikedeploy.stages.fold.fold``) for each statistic in ``--methods``
   and each number of decay profiles in ``--ks`` (no fine-tuning): the cost of the
   gate statistic and of the decay clustering on their own;
3. for each statistic, folding with ``--clusters`` profiles plus ``--finetune-epochs``
   of distillation towards the GPN's logits (KL at temperature 2 + ``--label-weight`` x
   cross entropy, decays learnt and re-clustered unless ``--fixed-decays``);
4. the fine-tuned (and the plain folded) network read into a NetworkSpec
   (``training.checkpoint.checkpoint_to_spec``), quantised with ``quant.ptq.quantize`` (calibrated on
   ``--quant-calib`` training samples) and run in the bit-exact emulator
   (``quant.emulator.emulator_accuracy``) on the validation split and the test file;
5. with ``--lif-baseline``: the folded architecture (feed-forward LIF, same readout,
   binning and training settings as the GPN) trained from scratch, the ceiling of what
   fine-tuning a fold can reach.

Run: .venv/bin/python benchmarks/accuracy_chain.py [--gpn gpn.pt] [--json chain.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _train_gpn(args, data_dir: Path, out: Path) -> Path:
    from spikedeploy.training.loop import run_training
    from spikedeploy.training.run_config import RunConfig

    run = RunConfig.resolve(preset="gpn-shd", model={"hidden": [args.hidden]},
                            binning={"n_steps": args.time_steps, "binary": True},
                            training={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                      "early_stop_patience": args.patience, "seed": args.seed})
    print(f"training GPN 700 -> {args.hidden} -> 20, T = {args.time_steps} (binary frames), up to {args.epochs} "
          f"epochs ...", flush=True)
    res = run_training(run.network, run.binning, run.training, data_dir, out, device="cpu", progress=False,
                       extra={"preset": "gpn-shd", "run": run.to_dict()})
    print(f"GPN trained: test {res.test_acc:.4f}, best val {res.best_val_acc:.4f} at epoch {res.best_epoch}, "
          f"{res.seconds:.0f} s", flush=True)
    return out


def _train_lif(args, data_dir: Path, gpn: Path, out: Path) -> dict:
    """The folded network's architecture trained from scratch with the GPN's binning and training settings."""
    from spikedeploy.fold import folded_network_config
    from spikedeploy.training.checkpoint import load_checkpoint
    from spikedeploy.training.config import TrainConfig
    from spikedeploy.training.loop import run_training

    model, meta = load_checkpoint(gpn)
    net_cfg = folded_network_config(model.config, learn_decays=True).replace(learn_thresholds=True)
    train_cfg = TrainConfig.from_dict(meta["training"]) if meta.get("training") else TrainConfig()
    res = run_training(net_cfg, meta["binning"], train_cfg, data_dir, out, device="cpu", progress=False)
    return {"test_acc": res.test_acc, "best_val_acc": res.best_val_acc, "best_epoch": res.best_epoch,
            "epochs": len(res.history), "seconds": res.seconds, "config": net_cfg.to_dict(),
            "training": train_cfg.to_dict()}


def _acc_line(name: str, val: float, test: float, ref_test: float | None = None) -> str:
    delta = "" if ref_test is None else f"  ({100 * (test - ref_test):+.2f} pp vs GPN)"
    return f"{name:38s} val {val:.4f}  test {test:.4f}{delta}"


def _quantise(folded_ckpt: Path, data_dir: Path, n_calib: int, seed: int) -> dict:
    """Quantise a folded checkpoint and run the emulator on the validation split and the test file."""
    import torch

    from spikedeploy.fold import logits_of
    from spikedeploy.quant.emulator import emulate, emulator_accuracy, emulator_logits
    from spikedeploy.quant.ptq import quantize
    from spikedeploy.training.checkpoint import checkpoint_to_spec
    from spikedeploy.training.loop import evaluate, load_split

    spec, model, meta = checkpoint_to_spec(folded_ckpt)
    src = meta["extra"]["source"]
    split = meta["extra"]["fold"]["split"]   # the GPN's own train/validation split
    train, val, test, _, _ = load_split(data_dir, meta["binning"], meta["model_config"], split["val_fraction"],
                                        split["seed"], progress=False)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=gen)[:n_calib].sort().values
    t0 = time.perf_counter()
    net, report = quantize(spec, train.x[idx].float(), labels=train.y[idx])
    t_quant = time.perf_counter() - t0
    t0 = time.perf_counter()
    emu_val = emulator_accuracy(net, val.x, val.y)
    emu_test = emulator_accuracy(net, test.x, test.y)
    t_emu = time.perf_counter() - t0
    float_val, float_test = evaluate(model, val)["acc"], evaluate(model, test)["acc"]
    # sample by sample: does the emulator pick the float network's class?
    e_logits = torch.cat([emulator_logits(net, emulate(net, (test.x[b:b + 256] > 0).to(torch.uint8),
                                                       on_overflow="ignore").readout)
                          for b in range(0, len(test), 256)])
    agree = float((e_logits.argmax(1) == logits_of(model, test.x.float()).argmax(1)).float().mean())
    return {"float_val": float_val, "float_test": float_test, "emu_val": emu_val["acc"], "emu_test": emu_test["acc"],
            "test_argmax_agreement_float_emulator": agree,
            "emu_test_rates": emu_test["rates"], "emu_test_overflow": emu_test["overflow"],
            "decay_groups": [l.decay_groups for l in report.layers],
            "calib_logit_agreement": report.logit_agreement, "report": report.format(),
            "quantise_seconds": t_quant, "emulate_seconds": t_emu, "source": src.get("checkpoint")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with train.h5/test.h5 (default: the built-in digits)")
    ap.add_argument("--gpn", default=None, help="GPN checkpoint (default: train one here)")
    ap.add_argument("--work", default=None,
                    help="folder for the checkpoints (created; default: accuracy-chain/ in the spikedeploy cache)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--time-steps", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--patience", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=["mean", "lsq"], help="gate statistics to compare")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 8, 0],
                    help="decay profiles to compare (0: one per distinct decay, i.e. no clustering)")
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--calib-samples", type=int, default=1024)
    ap.add_argument("--finetune-epochs", type=int, default=40)
    ap.add_argument("--finetune-lr", type=float, default=2e-3)
    ap.add_argument("--label-weight", type=float, default=1.0)
    ap.add_argument("--fixed-decays", dest="finetune_decays", action="store_false",
                    help="keep the decays on their cluster values while fine-tuning (default: learn + re-cluster)")
    ap.add_argument("--lif-baseline", action="store_true",
                    help="also train the folded architecture (LIF) from scratch with the GPN's settings")
    ap.add_argument("--quant-calib", type=int, default=256, help="training samples to calibrate the quantiser")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write all results to this JSON file")
    args = ap.parse_args(argv)

    import torch

    from spikedeploy.paths import cache_dir, default_data_dir
    from spikedeploy.stages.fold import FoldConfig, FoldOptions, fold, format_report

    torch.set_num_threads(args.threads)
    data_dir = Path(args.data) if args.data else default_data_dir()
    work = Path(args.work) if args.work else cache_dir() / "accuracy-chain"
    work.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    gpn = Path(args.gpn) if args.gpn else _train_gpn(args, data_dir, work / "gpn.pt")
    results: dict = {"gpn": str(gpn), "data": str(data_dir), "args": vars(args), "folds": [], "chain": {}}

    # 2. statistic x decay profiles, no fine-tuning
    print("\nfolding without fine-tuning (statistic, K decay profiles):", flush=True)
    gpn_acc = None
    for method in args.methods:
        for k in args.ks:
            cfg = FoldConfig(method=method, clusters=k if k > 0 else 1_000_000, calib_samples=args.calib_samples,
                             seed=args.seed)
            t0 = time.perf_counter()
            res = fold(FoldOptions(gpn, work / f"folded_{method}_k{k}.pt", data_dir, cfg, progress=False))
            acc = res.report["accuracy"]
            gpn_acc = acc["gpn"]
            layer = res.report["layers"][0]
            row = {"method": method, "k": k, "val": acc["folded"]["val"]["acc"], "test": acc["folded"]["test"]["acc"],
                   "rate": acc["folded"]["test"]["rates"][0], "profiles": len(layer["decay"]["profiles"]),
                   "decay_error": layer["decay"]["error"], "seconds": time.perf_counter() - t0,
                   "agreement": res.report["test_argmax_agreement_with_source"]["folded"]}
            if "lsq_fit" in layer:
                row["lsq_fit"] = layer["lsq_fit"]
            results["folds"].append(row)
            print(f"  {method:4s} K={k if k else 'all':>3}: " + _acc_line("", row["val"], row["test"],
                                                                          gpn_acc["test"]["acc"]).strip()
                  + f"  | argmax agreement {row['agreement']:.3f} | rate {row['rate']:.3f} | profiles "
                    f"{row['profiles']} | dv max err {row['decay_error']['max_abs']:.4f}", flush=True)

    # 3. + 4. the chain for each statistic: fold + fine-tune, then quantise both
    ref = gpn_acc["test"]["acc"]
    for method in args.methods:
        cfg = FoldConfig(method=method, clusters=args.clusters, calib_samples=args.calib_samples,
                         finetune_epochs=args.finetune_epochs, finetune_lr=args.finetune_lr,
                         label_weight=args.label_weight, finetune_decays=args.finetune_decays, seed=args.seed)
        print(f"\nchain with {method!r} statistics: fold (K = {args.clusters}) + {args.finetune_epochs} epochs of "
              f"distillation (lr {args.finetune_lr}, label weight {args.label_weight}, decays "
              f"{'learnt + re-clustered' if args.finetune_decays else 'fixed'}):", flush=True)
        t0 = time.perf_counter()
        ft_path = work / f"folded_{method}_finetuned.pt"
        ft = fold(FoldOptions(gpn, ft_path, data_dir, cfg, progress=False))
        chain = {"fold_seconds": time.perf_counter() - t0, "fold_report": format_report(ft.report),
                 "accuracy": ft.report["accuracy"], "finetune": ft.report["finetune"]}
        print(chain["fold_report"], flush=True)
        quant = {}
        for name, path in (("folded", work / f"folded_{method}_k{args.clusters}.pt"), ("finetuned", ft_path)):
            if not path.exists():
                continue
            try:
                quant[name] = _quantise(path, data_dir, args.quant_calib, args.seed)
            except ImportError as err:  # the quantiser has not landed
                quant[name] = {"error": f"quantiser not available: {err}"}
            except Exception as err:  # noqa: BLE001 - report whatever stops the last stage
                quant[name] = {"error": f"{type(err).__name__}: {err}"}
        chain["quantised"] = {k: {kk: vv for kk, vv in v.items() if kk != "report"} for k, v in quant.items()}
        chain["quant_reports"] = {k: v.get("report") for k, v in quant.items()}
        results["chain"][method] = chain
        acc = ft.report["accuracy"]
        print(f"\naccuracy chain, {method!r} statistics (validation split | test file):")
        print(_acc_line("GPN float", acc["gpn"]["val"]["acc"], ref))
        print(_acc_line(f"folded (K={args.clusters})", acc["folded"]["val"]["acc"], acc["folded"]["test"]["acc"], ref))
        if "finetuned" in acc:
            print(_acc_line(f"folded + fine-tuned ({args.finetune_epochs} ep)", acc["finetuned"]["val"]["acc"],
                            acc["finetuned"]["test"]["acc"], ref))
        for name, q in quant.items():
            if "error" in q:
                print(f"quantised {name}: {q['error']}")
                continue
            print(_acc_line(f"quantised {name} (emulator)", q["emu_val"], q["emu_test"], ref)
                  + f"  [float {q['float_test']:.4f}: quantisation {100 * (q['emu_test'] - q['float_test']):+.2f} pp"
                    f" test, {100 * (q['emu_val'] - q['float_val']):+.2f} pp val; test argmax agreement "
                    f"{q['test_argmax_agreement_float_emulator']:.4f}; decay groups {q['decay_groups']}]")
        for name, rep in chain["quant_reports"].items():
            if rep:
                print(f"\nquantisation report ({method}, {name}):\n{rep}")

    # 5. the ceiling: the same LIF network trained from scratch
    if args.lif_baseline:
        print("\nreference: the folded architecture (feed-forward LIF, mean-linear readout) trained from scratch",
              flush=True)
        results["lif_baseline"] = _train_lif(args, data_dir, gpn, work / "lif_scratch.pt")
        b = results["lif_baseline"]
        print(_acc_line("LIF trained from scratch", b["best_val_acc"], b["test_acc"], ref)
              + f"  ({b['epochs']} epochs, {b['seconds']:.0f} s)")
    results["seconds"] = time.perf_counter() - t_all
    print(f"\ntotal {results['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
