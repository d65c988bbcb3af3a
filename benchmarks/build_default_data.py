"""Wall time to build the default synthetic spoken-digit data set (2400 + 600 utterances).

Builds :meth:`SynthConfig.default` into ``--out`` (default: the cache folder, where
``spikedeploy main`` looks for it) with ``--workers`` processes, then reports the wall
time, utterances per second, the size on disk, the spike statistics and the machine's
load average (other work on the machine slows the build down).

    .venv/bin/python benchmarks/build_default_data.py [--out DIR] [--workers 2] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: the cache folder)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="rebuild even if a cached build matches")
    ap.add_argument("--train", type=int, default=None, help="override the training size (default 2400)")
    ap.add_argument("--test", type=int, default=None, help="override the test size (default 600)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    from spikedeploy.data.shd import summarize
    from spikedeploy.data.synth_digits import SynthConfig, build_dataset, read_manifest, speaker_summary

    cfg = SynthConfig.default()
    cfg = cfg.replace(n_train=args.train or cfg.n_train, n_test=args.test or cfg.n_test)
    load0 = os.getloadavg()
    t0, c0 = time.perf_counter(), cpu_seconds()
    r = build_dataset(cfg, out_dir=args.out, workers=args.workers, force=args.force)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    load1 = os.getloadavg()
    n = cfg.n_train + cfg.n_test
    size = sum(p.stat().st_size for p in (r.train_path, r.test_path))
    tr, te = summarize(r.train_path), summarize(r.test_path)
    m = read_manifest(r.out_dir) or {}
    print(f"{'reused the cached build' if r.cached else 'built'} {r.out_dir} in {wall:.1f} s wall "
          f"({args.workers} workers){'' if r.cached else f': {n / wall:.1f} utterances/s, {wall / n * 1e3:.0f} ms each'}")
    print(f"load average before/after: {load0[0]:.2f} / {load1[0]:.2f} (1 min)")
    if not r.cached:
        print(f"CPU time (all processes): {cpu:.1f} s = {cpu / n * 1e3:.0f} ms per utterance; on {args.workers} "
              f"otherwise idle cores the build would take about {cpu / args.workers:.0f} s")
    print(f"size on disk: train.h5 {r.train_path.stat().st_size / 1e6:.1f} MB, "
          f"test.h5 {r.test_path.stat().st_size / 1e6:.1f} MB, total {size / 1e6:.1f} MB")
    for s in (tr, te):
        print(f"{s.path.name}: {s.n_samples} samples, spikes per sample mean {s.spikes_mean:.0f} "
              f"(min {s.spikes_min}, max {s.spikes_max}), {len(s.speaker_counts or ())} speakers")
    print(speaker_summary(r.out_dir))
    if args.json:
        args.json.write_text(json.dumps(dict(out=str(r.out_dir), cached=r.cached, wall_s=wall, cpu_s=cpu,
                                             utterances=n, workers=args.workers,
                                             bytes=size, build_seconds_manifest=m.get("build_seconds"),
                                             load_before=load0, load_after=load1,
                                             spikes_mean_train=tr.spikes_mean, spikes_mean_test=te.spikes_mean),
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
