"""``spikedeploy main``: the main job, the whole pipeline on the built-in default data.

Builds (or reuses) the default synthetic spoken-digit data set and prints its summary,
then trains a GPN, a LIF, an s2net and a pr-v2 network, and an s2net conv2d network on the
same utterances in GSC's layout, folds the GPN, s2net and pr-v2 networks, quantises all five
to Loihi integers (the conv network with graded input), exports them as NIR, runs them in Lava on
the test set, compares float, emulator and Lava, and writes the report
(``spikedeploy.stages.pipeline_config.PipelineConfig.default``).
Everything goes into ``--out`` (default: the cache folder's ``main/``); a second run
reuses the finished stages. ``--until data`` stops after the data set.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paths import cache_dir
from .compare import pipeline_args, run_pipeline_command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("main", help="the main job: the whole pipeline on the built-in default data",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pipeline_args(p)
    p.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                   help="override the main job's settings (TOML, see spikedeploy.stages.pipeline_config)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: <cache>/main, or <cache>/main-quick with --quick; see "
                        "`spikedeploy data where`)")
    p.set_defaults(handler=_main, preload="spikedeploy.stages.pipeline")


def _main(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else cache_dir() / ("main-quick" if args.quick else "main")
    if args.until == "data" and args.config is None and not args.quick:
        return _data_only(args)
    _print_data_summary(args)
    return run_pipeline_command(args, args.config, out)


def _print_data_summary(args: argparse.Namespace) -> None:
    # lazy: keeps `spikedeploy --help` free of h5py and scipy
    from ..data.shd import summarize
    from ..data.synth_digits import SynthConfig, build_dataset, speaker_summary

    if args.quick or args.config is not None:
        return   # the pipeline's data stage builds (and reports) the data it is configured with
    result = build_dataset(SynthConfig.default(), out_dir=None, workers=args.workers,
                           progress=not args.no_progress)
    print(f"default data set: {result.out_dir} ({'cached' if result.cached else 'built now'})")
    for path in (result.train_path, result.test_path):
        print(summarize(path).format())
    print(speaker_summary(result.out_dir))


def _data_only(args: argparse.Namespace) -> int:
    _print_data_summary(args)
    return 0
