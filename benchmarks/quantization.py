"""Float vs Loihi-quantised (bit-exact emulator) vs QAT accuracy of a trained recurrent CUBA-LIF / LIF net.

Trains (or reuses) a checkpoint on the default synthetic digits (SHD format, binary
frames: Loihi's input spikes are binary), then on the held-out test split measures:

1. float accuracy of the trained model (PyTorch forward);
2. post-training quantisation (``quantize``, calibrated on training samples) run in the
   bit-exact emulator;
3. quantisation-aware fine-tuning (``qat_finetune``, a few epochs, straight-through
   fake quantisation on the fixed plan), then exact quantisation with the same plan,
   run in the emulator;
4. the control for 3: the same fine-tuning without fake quantisation (float), then
   post-training quantisation, so that what QAT recovers is not confused with what
   a few more epochs of training give.

Besides the accuracies, the float and emulator predictions are compared sample by
sample on the test set (agreement, and how many samples only one of them gets right),
which resolves much smaller differences than two accuracies on 600 samples, and the
PTQ cost is also measured on all 3000 samples (train + validation + test: what is
measured is the quantisation's fidelity, not generalisation). The PTQ variant with
``weight_range="mse"`` (clip level minimising the weight error) is measured next to
the default (``"max"``).

Everything runs side by side in one process. Example (the numbers in docs/benchmarks.md)::

    .venv/bin/python benchmarks/quantization.py --epochs 20 --qat-epochs 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="SHD-format folder (default: the built-in data set)")
    p.add_argument("--preset", default="cuba-shd", help="lif-shd or cuba-shd (default cuba-shd)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--time-steps", type=int, default=100)
    p.add_argument("--epochs", type=int, default=20, help="training epochs (if the checkpoint is missing)")
    p.add_argument("--checkpoint", type=Path, default=Path("/tmp/spikedeploy-bench/quant-cuba.pt"),
                   help="trained checkpoint to reuse, or where to write it")
    p.add_argument("--calib-samples", type=int, default=256)
    p.add_argument("--headroom", type=float, default=2.0)
    p.add_argument("--qat-epochs", type=int, default=3)
    p.add_argument("--qat-lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = p.parse_args(argv)

    from spikedeploy.data.shd import BinningConfig
    from spikedeploy.models.presets import get_preset
    from spikedeploy.models.to_spec import model_to_spec
    from spikedeploy.paths import default_data_dir
    from spikedeploy.data.sampling import stratified_indices
    from spikedeploy.quant.emulator import emulator_accuracy
    from spikedeploy.quant.ptq import QuantConfig, quantize
    from spikedeploy.quant.qat import qat_finetune
    from spikedeploy.training.checkpoint import load_checkpoint
    from spikedeploy.training.config import TrainConfig
    from spikedeploy.training.loop import evaluate, fit, load_split, run_training

    torch.set_num_threads(args.threads)
    data_dir = args.data or default_data_dir()
    preset = get_preset(args.preset)
    network = preset.network.replace(hidden=[args.hidden])
    binning = BinningConfig(n_steps=args.time_steps, binary=True)
    training = TrainConfig.from_dict({**TrainConfig().to_dict(), **dict(preset.training),
                                      "epochs": args.epochs, "seed": args.seed})
    t0 = time.perf_counter()
    if not args.checkpoint.is_file():
        args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        run_training(network, binning, training, data_dir, args.checkpoint, device="cpu",
                     extra={"preset": args.preset, "benchmark": "quantization"})
    train_s = time.perf_counter() - t0
    model, meta = load_checkpoint(args.checkpoint)
    binning = meta["binning"]
    train, val, test, binning, info = load_split(data_dir, binning, model.config, 0.15, meta["seed"] or 0,
                                                 progress=False)
    print(f"data: {info['n_train']} train / {info['n_val']} val / {info['n_test']} test, T = {binning.n_steps}, "
          f"binary = {binning.binary}; model {model.config.neuron} {list(model.config.hidden)} "
          f"recurrent = {model.config.recurrent}")

    float_test = evaluate(model, test)["acc"]
    idx = torch.from_numpy(stratified_indices(train.y.numpy(), args.calib_samples, args.seed))
    calib_x, calib_y = train.x[idx].float(), train.y[idx]
    spec = model_to_spec(model, dt=binning.dt)

    t1 = time.perf_counter()
    net, report = quantize(spec, calib_x, labels=calib_y, config=QuantConfig(headroom=args.headroom))
    ptq_s = time.perf_counter() - t1
    print(report.format())
    t2 = time.perf_counter()
    ptq_test = emulator_accuracy(net, test.x.float(), test.y, progress=True)
    emu_s = time.perf_counter() - t2

    def paired(net_q, float_model, data=test):
        """Emulator vs float predictions on ``data``, sample by sample."""
        from spikedeploy.quant.emulator import emulate
        from spikedeploy.quant.emulator import emulator_logits

        with torch.no_grad():
            f_pred = torch.cat([float_model(data.x[b:b + 256].float()).argmax(1)
                                for b in range(0, len(data), 256)])
        e_pred = torch.cat([emulator_logits(net_q, emulate(net_q, (data.x[b:b + 256] > 0).to(torch.uint8),
                                                           on_overflow="ignore").readout).argmax(1)
                            for b in range(0, len(data), 256)])
        y = data.y
        return {"n": int(len(y)), "float_acc": float((f_pred == y).float().mean()),
                "emulator_acc": float((e_pred == y).float().mean()),
                "agreement": float((f_pred == e_pred).float().mean()),
                "only_float_right": int(((f_pred == y) & (e_pred != y)).sum()),
                "only_emulator_right": int(((f_pred != y) & (e_pred == y)).sum())}

    from spikedeploy.training.loop import TensorData

    everything = TensorData(torch.cat([train.x, val.x, test.x]), torch.cat([train.y, val.y, test.y]))
    ptq_paired = paired(net, model)
    ptq_all = paired(net, model, everything)
    mse_net, mse_report = quantize(spec, calib_x, config=QuantConfig(headroom=args.headroom, weight_range="mse"),
                                   verify=False)
    mse_all = paired(mse_net, model, everything)
    t3 = time.perf_counter()
    qat = qat_finetune(model, train, val, calib_x, epochs=args.qat_epochs, lr=args.qat_lr, seed=args.seed,
                       config=QuantConfig(headroom=args.headroom), progress=True, log=print)
    qat_s = time.perf_counter() - t3
    qat_float_test = evaluate(qat.model, test)["acc"]
    qnet, qreport = quantize(model_to_spec(qat.model, dt=binning.dt), calib_x, labels=calib_y,
                             config=QuantConfig(plan=qat.plan, headroom=args.headroom))
    qat_test = emulator_accuracy(qnet, test.x.float(), test.y, progress=True)

    # Control: the same fine-tuning without fake quantisation, then PTQ.
    import copy

    ctrl = copy.deepcopy(model)
    tcfg = TrainConfig(epochs=args.qat_epochs, batch_size=64, lr=args.qat_lr, seed=args.seed,
                       early_stop_patience=0, lr_patience=max(args.qat_epochs, 1))
    ctrl_fit = fit(ctrl, train, val, tcfg, progress=True, log=print)
    ctrl.load_state_dict(ctrl_fit.best_state)
    ctrl.eval()
    ctrl_float_test = evaluate(ctrl, test)["acc"]
    cnet, _ = quantize(model_to_spec(ctrl, dt=binning.dt), calib_x, config=QuantConfig(headroom=args.headroom),
                       verify=False)
    ctrl_test = emulator_accuracy(cnet, test.x.float(), test.y)
    ctrl_paired = paired(cnet, ctrl)

    res = {
        "checkpoint": str(args.checkpoint), "data": info, "binning": binning.to_dict(),
        "model": model.config.to_dict(), "train_metrics": {k: v for k, v in meta["metrics"].items() if k != "history"},
        "float_test_acc": float_test, "ptq_emulator_test_acc": ptq_test["acc"],
        "ptq_cost_points": 100 * (float_test - ptq_test["acc"]),
        "ptq_overflow": ptq_test["overflow"], "ptq_rates": ptq_test["rates"],
        "qat_float_fakequant_test_acc": qat_float_test, "qat_emulator_test_acc": qat_test["acc"],
        "qat_cost_points": 100 * (float_test - qat_test["acc"]),
        "qat_best_val_acc": qat.best_val_acc, "qat_best_epoch": qat.best_epoch,
        "ptq_paired": ptq_paired, "ptq_all_samples": ptq_all, "ptq_mse_all_samples": mse_all,
        "ptq_mse_weight_rel_rms": [l.weight_rel_rms_error for l in mse_report.layers],
        "control_float_finetune_test_acc": ctrl_float_test, "control_ptq_emulator_test_acc": ctrl_test["acc"],
        "control_paired": ctrl_paired,
        "ptq_report": report.to_dict(), "qat_report": qreport.to_dict(),
        "seconds": {"train": train_s, "quantize_with_calibration": ptq_s, "emulate_test": emu_s, "qat": qat_s},
    }
    print()
    print(f"test accuracy ({info['n_test']} samples): float {float_test:.4f} | PTQ emulator {ptq_test['acc']:.4f} "
          f"({res['ptq_cost_points']:+.2f} points lost) | QAT emulator {qat_test['acc']:.4f} "
          f"({res['qat_cost_points']:+.2f} points lost; QAT float with fake quantisation {qat_float_test:.4f})")
    print(f"PTQ, test predictions float vs emulator: {ptq_paired}")
    print(f"PTQ, all {ptq_all['n']} samples: {ptq_all}")
    print(f"PTQ with weight_range='mse', all samples: {mse_all}")
    print(f"control (float fine-tuning, {args.qat_epochs} epochs, then PTQ): float {ctrl_float_test:.4f} | "
          f"emulator {ctrl_test['acc']:.4f}; paired {ctrl_paired}")
    print(f"overflows on the test set (PTQ): {ptq_test['overflow']}")
    print(f"seconds: {json.dumps({k: round(v, 1) for k, v in res['seconds'].items()})}")
    if args.out:
        args.out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
