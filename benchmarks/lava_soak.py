"""Soak: many lava-runs back to back in one process: identical results, nothing left growing.

Runs the lava-run stage (``stages.lava_run.lava_run``, real Lava, fixed_pt) ``--runs`` times
on the same small quantised graph and data, in this one process, and after each run
records: a digest of every array of the results (predictions, readout, spike trains), the
processes still below this one (Python's resource tracker, which lives as long as this
process, is listed apart), this process's resident memory (VmRSS) and the entries of
``/dev/shm``. Every ``--signal-every``-th run is interrupted by a SIGINT to this process
while Lava runs (the clean-up path of ``spikedeploy.processes``) and must leave the same
nothing behind. Prints a table of every ``--every``-th run and a last line::

    soak: <N> runs, results identical <yes|no>, processes left <max>, /dev/shm growth <n>,
          RSS growth <MiB> MiB over the second half (the first runs warm up the allocator)

The graph: the tests' small deployed model (``tests/stages/compare_setup.make_case``: toy
SHD-format data, 40 channels, 4 classes, 24 test samples, 20 steps; a 40-16r-4 CUBA-LIF
network exported quantised), run with one copy per sample.

Usage: .venv/bin/python benchmarks/lava_soak.py [--runs 50] [--signal-every 10] [--every 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))          # tests/stages/compare_setup.py

from spikedeploy.errors import Interrupted  # noqa: E402
from spikedeploy.processes import descendants  # noqa: E402
from spikedeploy.stages.lava_run import LavaRunOptions, lava_run  # noqa: E402
from tests.stages.compare_setup import make_case  # noqa: E402


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _digest(summary) -> str:
    h = hashlib.sha256()
    for arr in (summary.predictions, summary.readout, *(summary.spikes[k] for k in sorted(summary.spikes))):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _model(folder: Path) -> tuple[Path, Path]:
    case = make_case(folder)       # the tests' small deployed model: toy data, 40-16r-4, quantised NIR
    return case["nir"], case["test"]


def _interrupted_run(options: LavaRunOptions) -> str:
    """One run with a SIGINT sent to this process once Lava's processes are up."""
    def fire() -> None:
        deadline = time.monotonic() + 30
        while len(descendants()) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=fire, daemon=True).start()
    try:
        lava_run(options)
    except Interrupted as err:
        return f"interrupted (stopped {err.stopped}, released {err.released})"
    return "NOT interrupted"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--signal-every", type=int, default=10, help="interrupt every N-th run (0: never)")
    ap.add_argument("--every", type=int, default=5, help="print every N-th run")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="lava-soak-") as tmp:
        nir_path, test = _model(Path(tmp))
        shm0 = set(os.listdir("/dev/shm"))
        digests, rows, left_max, failed = set(), [], 0, False
        print("| run | kind | wall s | processes left | resource tracker | RSS MiB | new /dev/shm |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        for i in range(1, args.runs + 1):
            options = LavaRunOptions(nir_path, test, replicas=24, verify=False, out=Path(tmp) / f"r{i}.npz")
            t0 = time.perf_counter()
            if args.signal_every and i % args.signal_every == 0:
                # long enough (one copy, a 400-step gap after each sample) to be signalled mid-run
                kind = _interrupted_run(dataclasses.replace(options, replicas=1, gap_steps=400))
                failed |= kind == "NOT interrupted" or (Path(tmp) / f"r{i}.npz").exists()
            else:
                summary = lava_run(options)
                digests.add(_digest(summary))
                kind = "run"
            wall = time.perf_counter() - t0
            below = descendants()
            left = [p for p in below if not _tracker(p)]
            left_max = max(left_max, len(left))
            shm_new = len(set(os.listdir("/dev/shm")) - shm0)
            rows.append((i, kind, wall, len(left), len(below) - len(left), _rss_mib(), shm_new))
            if i == 1 or i % args.every == 0 or kind != "run":
                print("| {} | {} | {:.2f} | {} | {} | {:.0f} | {} |".format(*rows[-1]))
        growth_shm = rows[-1][6]
        half = rows[len(rows) // 2]
        growth_rss = rows[-1][5] - half[5]
        identical = len(digests) == 1
        failed |= not identical or left_max > 0 or growth_shm > 0
        print(f"soak: {args.runs} runs, results identical {'yes' if identical else 'no'}, processes left {left_max}, "
              f"/dev/shm growth {growth_shm}, RSS growth {growth_rss:.0f} MiB over the second half "
              f"(run 1 {rows[0][5]:.0f} MiB, run {half[0]} {half[5]:.0f} MiB, run {rows[-1][0]} {rows[-1][5]:.0f} MiB)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
