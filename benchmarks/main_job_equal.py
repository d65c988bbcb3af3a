"""Do two runs of the main job (or any pipeline) report the same numbers?

Compares two pipeline output folders side by side: every number in each model's
``report/<model>/comparison.json`` (times left out), every array of each Lava results
file (``lava/<model>.npz``: predictions, readout, spike trains), and each step's record
in ``pipeline.json`` (times left out). Paths and file hashes differ between folders and
are not numbers, so they are not compared. Used to show that a refactoring left the main
job's behaviour unchanged::

    git worktree add /tmp/base <before>      # the code before the change
    PYTHONPATH=/tmp/base/src .venv/bin/python -m spikedeploy main --out /tmp/main-before --no-progress
    .venv/bin/python -m spikedeploy main --out /tmp/main-after --no-progress
    .venv/bin/python benchmarks/main_job_equal.py /tmp/main-before /tmp/main-after

Exit status 0 when every compared value is equal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

#: Keys holding times (they differ from run to run, and are not what a run computes).
TIME_KEYS = ("seconds", "wall_time", "timing", "created", "finished", "run_s", "startup_s", "stop_s", "read_s",
             "build_s", "steps_per_s")


def leaves(d: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            if not any(t in str(k) for t in TIME_KEYS):
                yield from leaves(v, f"{path}/{k}")
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, d


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare_json(a: Any, b: Any, where: str) -> tuple[int, list[str]]:
    la, lb = dict(leaves(a)), dict(leaves(b))
    n, diffs = 0, []
    for key in sorted(set(la) | set(lb)):
        va, vb = la.get(key), lb.get(key)
        if is_number(va) or is_number(vb) or isinstance(va, bool):
            n += 1
            if va != vb:
                diffs.append(f"{where}{key}: {va!r} != {vb!r}")
    return n, diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    args = ap.parse_args(argv)
    models = sorted(p.name for p in (args.before / "report").iterdir() if (p / "comparison.json").is_file())
    total, arrays, diffs = 0, 0, []
    for m in models:
        n, d = compare_json(*(json.loads((f / "report" / m / "comparison.json").read_text())
                              for f in (args.before, args.after)), f"{m} comparison.json ")
        total, diffs = total + n, diffs + d
        with np.load(args.before / "lava" / f"{m}.npz") as ra, np.load(args.after / "lava" / f"{m}.npz") as rb:
            for k in ra.files:
                if k == "meta_json":
                    continue
                arrays += 1
                if k not in rb.files or not np.array_equal(ra[k], rb[k]):
                    diffs.append(f"{m} lava/{m}.npz [{k}] differs")
    sa, sb = (json.loads((f / "pipeline.json").read_text())["stages"] for f in (args.before, args.after))
    for key in sorted(set(sa) | set(sb)):
        n, d = compare_json((sa.get(key) or {}).get("info"), (sb.get(key) or {}).get("info"), f"pipeline.json {key} ")
        total, diffs = total + n, diffs + d
    for line in diffs:
        print(line)
    print(f"models {', '.join(models)}: {total} numbers and {arrays} result arrays compared, "
          f"{len(diffs)} differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
