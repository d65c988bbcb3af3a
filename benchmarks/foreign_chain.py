"""A network trained with another library, taken to Lava: the accuracy chain of a converted model.

snnTorch 1.0's own modules (``nn.Linear -> snntorch.Leaky -> nn.Linear``, logits = the mean
over time of the last Linear's output) are trained here with a plain PyTorch loop on the
default data (binary frames, as Loihi's input is binary), then:

1. ``snntorch``   the library's own forward pass, step by step, on the test file;
2. ``converted``  ``spikedeploy.from_module`` (float; equals 1 but for voltages that meet the
                  threshold exactly);
3. ``folded``     ``spikedeploy.fold`` (only for ``reset_mechanism="subtract"``, snnTorch's
                  default: the reset by subtraction becomes Loihi's reset to zero plus the
                  expected remainder; ``"zero"`` needs no fold);
4. ``quantised``  ``spikedeploy.export_nir(quantized=True)``: Loihi integers, run in the
                  bit-exact emulator on the whole test file;
5. ``lava``       ``spikedeploy.run_lava`` on ``--lava-samples`` test samples, verified spike
                  for spike against the emulator (so its accuracy on those samples is the
                  emulator's).

Run: .venv/bin/python benchmarks/foreign_chain.py [--epochs 15] [--json chain.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def _frames(path: Path, binning):
    from spikedeploy.data.shd import ShdDataset

    x, y = ShdDataset(path, binning, progress=False).tensors()
    return x.float(), y


def _snntorch_logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    from snntorch import utils

    utils.reset(net)
    return torch.stack([net(x[:, t]) for t in range(x.shape[1])], 0).mean(0)


def _train(reset: str, x: torch.Tensor, y: torch.Tensor, args) -> nn.Module:
    import snntorch as snn

    torch.manual_seed(args.seed)
    net = nn.Sequential(nn.Linear(x.shape[2], args.hidden),
                        snn.Leaky(beta=args.beta, init_hidden=True, reset_mechanism=reset),
                        nn.Linear(args.hidden, int(y.max()) + 1))
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = nn.functional.cross_entropy(_snntorch_logits(net, x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


def _chain(reset: str, data: Path, train, test, binning, args, work: Path) -> dict:
    import spikedeploy as sd
    from spikedeploy.fold import fold_needed
    from spikedeploy.quant.emulator import emulator_accuracy

    t0 = time.perf_counter()
    net = _train(reset, *train, args)
    row = {"reset": reset, "train_s": time.perf_counter() - t0}
    x, y = test
    with torch.no_grad():
        row["snntorch"] = _accuracy(_snntorch_logits(net, x), y)
    conv = sd.from_module(net, binning=binning)
    row["converted"] = _accuracy(sd.simulate(conv, x).logits, y)
    row["notes"] = list(conv.notes)
    ckpt = sd.save_model(conv, work / f"{reset}.pt")
    if fold_needed(conv.network.config):
        folded = sd.fold(ckpt, work / f"{reset}-folded.pt", data_dir=data)
        row["folded"] = folded.accuracy["folded"]["test"]["acc"]
        row["remainder"] = folded.report.get("remainder")
        ckpt = folded.checkpoint
    nir_file = work / f"{reset}.nir"
    exported = sd.export_nir(ckpt, nir_file, quantized=True, data_dir=data,
                             quant=sd.api.QuantOptions(calib_samples=args.calib_samples))
    row["quantised"] = emulator_accuracy(exported.loihi, x, y)["acc"]
    t1 = time.perf_counter()
    run = sd.run_lava(nir_file, data, samples=args.lava_samples, verify=True)
    row["lava"] = float(np.mean(run.predictions == run.labels))
    row["lava_samples"] = int(len(run.labels))
    row["lava_verified"] = bool(run.verified)
    row["lava_s"] = time.perf_counter() - t1
    # the emulator on exactly the samples Lava ran, to read the Lava number against
    row["quantised_on_lava_samples"] = emulator_accuracy(exported.loihi, x[run.sample_indices],
                                                         y[run.sample_indices])["acc"]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="SHD-format folder (default: the built-in data)")
    ap.add_argument("--time-steps", type=int, default=40)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--beta", type=float, default=0.9)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--calib-samples", type=int, default=256)
    ap.add_argument("--lava-samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resets", nargs="+", default=["subtract", "zero"])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    from spikedeploy.data.shd import BinningConfig
    from spikedeploy.paths import default_data_dir

    data = args.data or default_data_dir()
    binning = BinningConfig(n_steps=args.time_steps, binary=True)
    train, test = _frames(data / "train.h5", binning), _frames(data / "test.h5", binning)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for reset in args.resets:
            row = _chain(reset, data, train, test, binning, args, Path(tmp))
            rows.append(row)
            print(json.dumps(row, indent=1), flush=True)
    print("\n| snnTorch reset | snnTorch | converted | folded | quantised (emulator) | Lava (n) | verified |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        folded = f"{100 * r['folded']:.2f}" if "folded" in r else "(no fold)"
        print(f"| {r['reset']} | {100 * r['snntorch']:.2f} | {100 * r['converted']:.2f} | {folded} | "
              f"{100 * r['quantised']:.2f} | {100 * r['lava']:.2f} ({r['lava_samples']}; emulator on them "
              f"{100 * r['quantised_on_lava_samples']:.2f}) | {r['lava_verified']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
