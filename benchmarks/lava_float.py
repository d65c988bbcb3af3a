"""Lava's floating_pt models against the float PyTorch model (SpecNetwork) on a subset of the test set.

`lava-run --float` runs the graph's float network (not quantised) in Lava's floating-point
LIF/Dense models. Their equations are the spec's own, so what can differ is arithmetic:
Lava computes in float64 and sums each connection process's input separately
(``weights[:, s].sum(axis=1)`` per source group, then the ports add up); SpecNetwork runs
a matrix product, in float32 (the model's own precision) or float64. One sample per Lava
copy (replicas = samples), so no recurrent spike crosses a sample boundary and every
window is an independent run. For context: the bit-exact integer network (the emulator)
on the same samples against the float model.

    .venv/bin/python benchmarks/lava_float.py                       # the model lava_bit_exact.py trained
    .venv/bin/python benchmarks/lava_float.py --model model.nir --samples 64
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch


def spikes_and_logits(spec, x: np.ndarray, dtype: torch.dtype, batch: int = 64):
    from spikedeploy.models.spec_network import SpecNetwork

    model = SpecNetwork(spec, dtype=dtype)
    spikes = {l.name: [] for l in spec.layers if l.spiking}
    logits = []
    with torch.no_grad():
        for b0 in range(0, x.shape[0], batch):
            run = model.run(torch.as_tensor(x[b0:b0 + batch], dtype=dtype))
            for i, l in enumerate(spec.layers):
                if l.spiking:
                    spikes[l.name].append(run.outputs[i].numpy() > 0.5)
            logits.append(run.logits.to(torch.float64).numpy())
    return {k: np.concatenate(v) for k, v in spikes.items()}, np.concatenate(logits)


def first_divergence(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per sample, the first step where any neuron differs (-1: none)."""
    diff = (a != b).any(axis=2)
    return np.where(diff.any(axis=1), diff.argmax(axis=1), -1)


def main() -> int:
    from spikedeploy.paths import default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("/tmp/spikedeploy-bench/lava/cuba128_e15.nir"),
                    help="a NIR export (default: the one benchmarks/lava_bit_exact.py trained)")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default: `spikedeploy data where`)")
    ap.add_argument("--samples", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.model.is_file():
        print(f"{args.model} does not exist: run benchmarks/lava_bit_exact.py first or pass --model", file=sys.stderr)
        return 2

    from spikedeploy.data.shd import BinningConfig, load_spikes
    from spikedeploy.data.sampling import binary_frames
    from spikedeploy.nir_io import load_nir, read_loihi_network, read_nir
    from spikedeploy.quant.emulator import emulate, emulator_logits
    from spikedeploy.stages.lava_run import LavaRunOptions, lava_run

    data = args.data or default_data_dir()
    test = data / "test.h5"
    t0 = time.perf_counter()
    s = lava_run(LavaRunOptions(args.model, test, samples=args.samples, replicas=args.samples, config="floating_pt",
                                progress=True))
    t_lava = time.perf_counter() - t0
    print(s.format())
    spec = load_nir(args.model)
    x, y, _ = binary_frames(load_spikes(test), BinningConfig.from_dict(s.binning), s.sample_indices)
    preds = s.predictions
    print()
    print(f"model {args.model}; {s.n_samples} samples x {s.n_steps} steps, one sample per Lava copy; carried "
          f"samples {int(s.carried.sum())}; decays {s.decays}; Lava floating_pt {t_lava:.1f} s")
    print("| float PyTorch model | prediction agreement | spike agreement | samples with any spike difference | "
          "first differing step (median, of those) | logit max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, dtype in (("SpecNetwork float64", torch.float64), ("SpecNetwork float32 (the model's precision)",
                                                                   torch.float32)):
        ref_s, ref_logits = spikes_and_logits(spec, x, dtype)
        agree = sum(int((ref_s[k] == s.spikes[k]).sum()) for k in ref_s) / sum(v.size for v in ref_s.values())
        div = np.concatenate([first_divergence(ref_s[k], s.spikes[k])[:, None] for k in ref_s], axis=1)
        div = np.where((div >= 0).any(axis=1), np.where(div >= 0, div, 10 ** 9).min(axis=1), -1)
        n_div = int((div >= 0).sum())
        med = f"{int(np.median(div[div >= 0]))}" if n_div else "-"
        pa = float(np.mean(ref_logits.argmax(axis=1) == preds))
        print(f"| {name} | {pa * 100:.2f} % | {agree * 100:.4f} % | {n_div} / {s.n_samples} | {med} | "
              f"{np.abs(ref_logits - s.readout).max():.3g} |")
    net = read_loihi_network(read_nir(args.model))
    if net is not None:
        emu = emulate(net, x, record=("s", "v"), on_overflow="ignore")
        e_pred = emulator_logits(net, emu.readout).argmax(1).numpy()
        ref_s, ref_logits = spikes_and_logits(spec, x, torch.float64)
        agree = sum(int((ref_s[k] == emu.spikes[k].numpy().astype(bool)).sum()) for k in ref_s) / \
            sum(v.size for v in ref_s.values())
        print(f"context: the integer network (emulator = Lava fixed_pt) vs SpecNetwork float64 on the same samples: "
              f"prediction agreement {np.mean(e_pred == ref_logits.argmax(1)) * 100:.2f} %, spike agreement "
              f"{agree * 100:.2f} %")
    print(f"accuracy: Lava floating_pt {s.accuracy * 100:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
