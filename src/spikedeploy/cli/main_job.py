"""``spikedeploy main``: the main job on the built-in default data.

Today: build (or reuse) the default synthetic spoken-digit data set and print its
class and speaker summary. Later stages (train, fold, quantise, export, Lava run,
compare) extend this same command into the full pipeline.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("main", help="the main job on the built-in default data",
                       description=__doc__)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    from ..data.shd import summarize
    from ..data.synth_digits import SynthConfig, build_dataset, speaker_summary

    cfg = SynthConfig.default()
    result = build_dataset(cfg, out_dir=None, workers=args.workers)
    print(f"default data set: {result.out_dir} ({'cached' if result.cached else 'built now'})")
    for path in (result.train_path, result.test_path):
        print(summarize(path).format())
    print(speaker_summary(result.out_dir))
    return 0
