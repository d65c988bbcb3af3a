"""Bit-exactness of Lava (fixed_pt) against the project's emulator on the whole default test set.

Trains (or takes) a quantised export of a default-data model, runs every test sample through
`spikedeploy lava-run`'s library call (one Lava run, B copies side by side, --verify: the whole
stream, every spike of every layer and the readout voltage on every step, against
`emulate_stream`), then compares per sample: spikes of every neuron and step and the
predictions against the emulator's replay (`stream_reference`), and against independent
per-sample runs (`emulate`), which differ only where a recurrent spike crossed a sample
boundary (the stream rule, docs/fixed-point.md). Anything below 100 % against the stream
reference is a bug.

    .venv/bin/python benchmarks/lava_bit_exact.py                      # trains cuba-shd (binary frames), 15 epochs
    .venv/bin/python benchmarks/lava_bit_exact.py --model model.nir    # an existing quantised export
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch


def _sh(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


class PeakMemory:
    """Peak proportional set size (PSS, MB) of this process and its descendants (Lava forks one
    process per Lava process), sampled every 0.2 s from /proc (Linux)."""

    def __init__(self):
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(root: int) -> list[int]:
        children: dict[int, list[int]] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as fh:
                        ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(d))
        out, todo = [], [root]
        while todo:
            p = todo.pop()
            out.append(p)
            todo += children.get(p, [])
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in self._tree(os.getpid()):
                try:
                    with open(f"/proc/{pid}/smaps_rollup") as fh:
                        total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
                except (OSError, StopIteration, ValueError):
                    pass
            self.peak_mb = max(self.peak_mb, total / 1024)
            self._stop.wait(0.2)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def make_model(workdir: Path, data: Path, epochs: int, hidden: int) -> Path:
    """Train cuba-shd on binary frames (Loihi's input is binary) and export it quantised."""
    nir_path = workdir / f"cuba{hidden}_e{epochs}.nir"
    if nir_path.is_file():
        print(f"reusing {nir_path}")
        return nir_path
    ckpt = workdir / f"cuba{hidden}_e{epochs}.pt"
    cfg = workdir / f"cuba{hidden}_e{epochs}.toml"
    cfg.write_text(f'preset = "cuba-shd"\ndata = "{data}"\nout = "{ckpt}"\n\n[model]\nhidden = [{hidden}]\n\n'
                   f'[binning]\nbinary = true\n\n[training]\nepochs = {epochs}\n')
    py = sys.executable
    _sh([py, "-m", "spikedeploy", "train", "--config", str(cfg), "--threads", "1", "--device", "cpu",
         "--no-progress"])
    _sh([py, "-m", "spikedeploy", "export-nir", str(ckpt), "--quantized", "--data", str(data), "-o", str(nir_path)])
    return nir_path


def main() -> int:
    from spikedeploy.paths import default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="a quantised NIR export (default: train one)")
    ap.add_argument("--data", type=Path, default=None, help="data folder (default: `spikedeploy data where`)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/spikedeploy-bench/lava"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--samples", type=int, default=None, help="default: all test samples")
    ap.add_argument("--replicas", type=int, nargs="*", default=[],
                    help="one Lava run per value (default: one run with lava-run's default, one copy per sample "
                         "within a synapse budget)")
    ap.add_argument("--decays", default="auto", choices=("auto", "groups", "per-neuron"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    from spikedeploy.data.shd import load_spikes
    from spikedeploy.data.sampling import binary_frames
    from spikedeploy.lava_backend.results import read_results
    from spikedeploy.nir_io import read_loihi_network, read_nir
    from spikedeploy.quant.emulator import emulate, stream_reference
    from spikedeploy.stages.lava_run import LavaRunOptions, lava_run

    data = args.data or default_data_dir()
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model or make_model(args.workdir, data, args.epochs, args.hidden)
    test = data / "test.h5"
    out = args.workdir / "lava_bit_exact.npz"

    from spikedeploy.data.shd import BinningConfig

    net = read_loihi_network(read_nir(model))
    sweep = []
    failed = False
    alone = x = y = None
    for B in (args.replicas or [None]):
        t0 = time.perf_counter()
        with PeakMemory() as mem:
            summary = lava_run(LavaRunOptions(model, test, samples=args.samples, replicas=B, verify=True, out=out,
                                              progress=True, decays=args.decays))
        t_run = time.perf_counter() - t0
        print(summary.format())
        res = read_results(out)
        if x is None:
            x, y, _ = binary_frames(load_spikes(test), BinningConfig.from_dict(summary.binning), res.sample_indices)
            t2 = time.perf_counter()
            alone = emulate(net, x, record=("s", "v"), on_overflow="ignore")
            t_alone = time.perf_counter() - t2
        t1 = time.perf_counter()
        ref = stream_reference(net, x, res.meta["replicas"], res.meta["gap_steps"])
        t_ref = time.perf_counter() - t1
        rows = compare(res, net, ref, alone, y)
        report(model, res, rows, summary, t_run, t_ref, t_alone)
        sweep.append((res.meta["replicas"], res.meta["stream"]["samples_per_replica"], summary.lava_steps,
                      summary.timing, t_run, mem.peak_mb, res.meta["carried_samples"], rows))
        failed |= rows[0][1] != 1.0 or rows[0][3] != 1.0 or not rows[0][4]
    if len(sweep) > 1:
        print()
        print("| B (copies) | samples per copy | Lava steps | ms per step | sample-steps/s (steady) | lava-run wall s | "
              "peak memory (PSS, MB) | carried samples | vs emulate_stream | predictions vs independent runs |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")
        for B, per, steps, t, wall, mb, carried, rows in sweep:
            exact = "bit-exact" if rows[0][1] == 1.0 and rows[0][4] else "DIFFERS"
            print(f"| {B} | {per} | {steps} | {t['run_s'] / max(steps - 1, 1) * 1000:.1f} | "
                  f"{t['sample_steps_per_s']:,.0f} | {wall:.1f} | {mb:,.0f} | {carried} | {exact} | "
                  f"{rows[1][3] * 100:.2f} % |")
    if failed:
        print("NOT BIT-EXACT: this is a bug", file=sys.stderr)
        return 1
    return 0


def compare(res, net, ref, alone, y):
    from spikedeploy.lava_backend.stream import readout_values

    rows = []
    mode = res.meta["readout_mode"]
    for name, emu in (("emulate_stream (Lava's timing)", ref), ("emulate (independent samples)", alone)):
        agree, total = 0, 0
        for layer in res.spikes:
            e = emu.spikes[layer].numpy().astype(bool)
            agree += int((e == res.spikes[layer]).sum())
            total += e.size
        last = net.layers[-1]
        e_readout = readout_values(emu.voltage[last.name].numpy(), emu.spikes[last.name].numpy(), mode,
                                   last.spiking, True)
        pred = e_readout.argmax(axis=1)
        rows.append((name, agree / total, total, float(np.mean(pred == res.predictions)),
                     int(np.array_equal(e_readout, res.readout)), float(np.mean(pred == y))))
    return rows


def report(model, res, rows, summary, t_run, t_ref, t_alone):
    print()
    print(f"model {model}; {res.n_samples} samples x {res.meta['n_steps']} steps; replicas {res.meta['replicas']}, "
          f"gap {res.meta['gap_steps']} ({res.meta['gap_source']}); carried samples {res.meta['carried_samples']}; "
          f"decays {res.meta['decays']}")
    print("| reference | spike agreement | (sample, step, neuron) compared | prediction agreement | readout identical | "
          "reference accuracy |")
    print("|---|---:|---:|---:|:---:|---:|")
    for name, sa, n, pa, ro, acc in rows:
        print(f"| {name} | {sa * 100:.4f} % | {n:,} | {pa * 100:.2f} % | {'yes' if ro else 'no'} | {acc * 100:.2f} % |")
    print(f"Lava accuracy {res.accuracy * 100:.2f} %; verify (whole stream vs emulate_stream): "
          f"{'bit-exact' if res.meta['verified'] else 'FAILED'}")
    t = summary.timing
    print(f"times: lava-run {t_run:.1f} s (Lava steady {t['run_s']:.1f} s, start-up {t['startup_s']:.1f} s, "
          f"{t['sample_steps_per_s']:,.0f} sample-steps/s), emulator stream replay {t_ref:.1f} s, "
          f"independent emulation {t_alone:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
