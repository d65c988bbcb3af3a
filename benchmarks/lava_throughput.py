"""Lava throughput: one copy of the network per Lava step (naive) vs B copies side by side.

Lava's Python simulation costs a roughly fixed time per step and process (its
inter-process messaging), whatever the layer width, so running one sample at a
time is slow. ``run_stream(..., replicas=B)`` puts B copies of the network side by
side in the same processes (block-diagonal Sparse weights), so B samples advance
per Lava step. This script measures, in one run:

* a network shaped like the default one: 700 inputs -> 128 recurrent CUBA-LIF
  (two decay groups) -> 20 non-spiking readout, random integer weights giving a
  hidden firing rate of about 9 %, random input spikes at an SHD-like rate (2 %);
* for each B in ``--replicas``: a stream of ``--per-replica`` samples of ``--steps``
  steps per copy, in ONE Lava run (fixed_pt, LIFReset between samples); the
  steady-state speed in sample-steps per second (the first step, which compiles
  the graph and starts Lava's processes, is timed apart) and the wall time;
* every run is replayed in the emulator and compared spike for spike and voltage
  for voltage (readout voltages, spikes of every layer).

The speed-up is the steady-state rate at the largest B over the rate at B = 1 (the
naive one-sample-at-a-time runner). Writes a PNG of speed against B (``--plot``)
and prints a Markdown table. Last line: ``speedup <X>x at B=<B>, bit-exact <yes|no>``.

Usage: .venv/bin/python benchmarks/lava_throughput.py [--replicas 1 4 16 64]
       [--per-replica 2] [--steps 100] [--plot docs/lava_throughput.png]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def default_like_network(seed: int):
    """700 -> 128 recurrent CUBA-LIF (two decay groups) -> 20 readout, random integers."""
    from spikedeploy.quant.loihi_network import LoihiLayer, LoihiNetwork

    rng = np.random.default_rng(seed)

    def even(a):  # Dense's grid for mixed-sign 8-bit weights
        return (np.clip(np.round(a / 2), -128, 127) * 2).astype(np.int64)

    n_h = 128
    half = np.arange(n_h) < n_h // 2
    hidden = LoihiLayer("hidden", even(rng.normal(12, 40, (n_h, 700))), 0,
                        du=np.where(half, 742, 1300), dv=np.where(half, 200, 400), vth=2500, bias_mant=0,
                        rec_weight=even(rng.normal(-8, 40, (n_h, n_h))))
    readout = LoihiLayer("readout", even(rng.normal(0, 40, (20, n_h))), 0, du=4095, dv=0, vth=None,
                         spiking=False)
    return LoihiNetwork(700, (hidden, readout), metadata={"benchmark": "lava_throughput", "seed": seed})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 16, 64],
                        help="copies side by side; the first must be 1 (the naive runner)")
    parser.add_argument("--per-replica", type=int, default=2, help="samples each copy plays")
    parser.add_argument("--steps", type=int, default=100, help="time steps per sample")
    parser.add_argument("--rate", type=float, default=0.02, help="input spike probability per step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="docs/lava_throughput.png",
                        help="PNG of speed against B ('' to skip)")
    args = parser.parse_args(argv)
    if args.replicas[0] != 1:
        parser.error("--replicas must start with 1 (the naive one-copy runner)")

    import torch
    torch.set_num_threads(1)
    from spikedeploy.lava_backend.run import run_stream, verify_bit_exact
    from spikedeploy.errors import VerificationError

    net = default_like_network(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    rows, exact = [], True
    t_all = time.perf_counter()
    for B in args.replicas:
        n = B * args.per_replica
        x = (rng.random((n, args.steps, 700)) < args.rate).astype(np.uint8)
        res = run_stream(net, x, replicas=B, gap_steps=0, record_voltage="readout")
        t_emu = time.perf_counter()
        try:
            emu = verify_bit_exact(res)
            ok = True
        except VerificationError as err:
            print(f"B={B}: NOT bit-exact: {err}")
            ok, emu = False, None
        t_emu = time.perf_counter() - t_emu
        exact &= ok
        t = res.timing
        rows.append(dict(B=B, samples=n, steps=int(t["steps"]), rate=t["sample_steps_per_s"],
                         wall=t["wall_sample_steps_per_s"], ms_per_step=1e3 * t["run_s"] / (t["steps"] - 1),
                         startup=t["startup_s"], hidden_rate=float(res.spikes["hidden"].mean()),
                         carries=int(emu.carry_spikes.sum()) if emu is not None else -1, exact=ok,
                         emu_rate=B * t["steps"] / t_emu))
        print(f"B={B:3d}: {rows[-1]['rate']:8.0f} sample-steps/s steady, {rows[-1]['wall']:8.0f} wall, "
              f"{rows[-1]['ms_per_step']:6.1f} ms/step, start-up {t['startup_s']:.1f} s, "
              f"hidden rate {rows[-1]['hidden_rate']:.3f}, bit-exact {'yes' if ok else 'no'}", flush=True)
    base = rows[0]
    print()
    print("| B (copies) | samples | Lava steps | ms per step | sample-steps/s (steady) | speed-up | "
          "sample-steps/s (wall, incl. start-up) | bit-exact | emulator replay + compare, sample-steps/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")
    for r in rows:
        print(f"| {r['B']} | {r['samples']} | {r['steps']} | {r['ms_per_step']:.1f} | {r['rate']:.0f} | "
              f"{r['rate'] / base['rate']:.1f}x | {r['wall']:.0f} | {'yes' if r['exact'] else 'no'} | "
              f"{r['emu_rate']:.0f} |")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s; hidden firing rate {base['hidden_rate']:.3f}; "
          f"input rate {args.rate}")
    if args.plot:
        _plot(rows, Path(args.plot))
        print(f"plot: {args.plot}")
    best = max(rows, key=lambda r: r["rate"])
    print(f"speedup {best['rate'] / base['rate']:.1f}x at B={best['B']}, bit-exact {'yes' if exact else 'no'}")
    return 0 if exact else 1


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikedeploy.atomic import atomic_path

    Bs = [r["B"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(Bs, [r["rate"] for r in rows], "o-", label="steady state")
    ax.loglog(Bs, [r["wall"] for r in rows], "s--", label="wall (incl. start-up)")
    ax.loglog(Bs, [rows[0]["rate"] * b for b in Bs], ":", color="grey", label="ideal (B x naive)")
    ax.set_xlabel("copies side by side, B")
    ax.set_ylabel("sample-steps per second")
    ax.set_title("Lava fixed_pt: 700-128(rec)-20, one run per B")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
