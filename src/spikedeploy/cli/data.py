"""``spikedeploy data ...``: build, encode and inspect SHD-format data."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..paths import default_data_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build, encode and inspect SHD-format spike data",
                       description="Build the synthetic spoken-digit data set, encode audio through "
                                   "the cochlea, and summarise SHD-format files.")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    dsub.required = True

    s = dsub.add_parser("synth-digits", help="synthesise spoken digits (espeak-ng) into SHD-format files",
                        description="Digits 0-9 in English and German (20 classes, SHD's label order) "
                                    "spoken by espeak-ng voices, passed through the cochlea and written "
                                    "as DIR/train.h5 and DIR/test.h5 with speaker-disjoint splits. "
                                    "Deterministic for a seed; cached.")
    s.add_argument("--out", type=Path, default=None,
                   help="output folder (default: the cache folder, see `spikedeploy data where`)")
    s.add_argument("--train", type=int, default=None, help="number of training utterances (default 2400)")
    s.add_argument("--test", type=int, default=None, help="number of test utterances (default 600)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    s.add_argument("--no-noise", action="store_true", help="do not add background noise")
    s.add_argument("--force", action="store_true", help="rebuild even if a cached copy matches")
    s.add_argument("--layout", choices=("shd", "gsc"), default="shd",
                   help="shd: spikes in DIR/train.h5, test.h5 (default); gsc: the same utterances as 16 kHz wav "
                        "files in Google Speech Commands' folder layout (needs --out)")
    s.set_defaults(handler=_synth_digits, preload="spikedeploy.data.synth_digits")

    e = dsub.add_parser("encode-audio", help="encode a 16-bit PCM wav into 700-channel spikes (SHD format)")
    e.add_argument("wav", type=Path, help="input wav file (16-bit PCM, mono or stereo)")
    e.add_argument("-o", "--out", type=Path, required=True, help="output .h5 file (SHD schema)")
    e.add_argument("--label", type=int, default=0, help="label stored with the sample (default 0)")
    e.add_argument("--seed", type=int, default=0, help="seed of the spiking stage (default 0)")
    e.add_argument("--mode", choices=("fast", "exact"), default="fast",
                   help="filter bank: fast (FFT-domain, default) or exact (time-domain reference, slow)")
    e.set_defaults(handler=_encode_audio, preload="spikedeploy.data.cochlea")

    i = dsub.add_parser("info", help="summarise an SHD-format file")
    i.add_argument("file", type=Path, help="an SHD/SSC-format .h5 file")
    i.set_defaults(handler=_info, preload="spikedeploy.data.shd")

    w = dsub.add_parser("where", help="print the folder of the cached default data set")
    w.set_defaults(handler=_where)


def _synth_digits(args: argparse.Namespace) -> int:
    # lazy: keeps `spikedeploy --help` free of h5py and scipy
    from ..data import shd, synth_digits, synth_gsc

    cfg = synth_digits.SynthConfig.default().replace(
        **{k: v for k, v in dict(n_train=args.train, n_test=args.test, seed=args.seed,
                                  noise=False if args.no_noise else None).items() if v is not None})
    if args.layout == "gsc":
        if args.out is None:
            raise ConfigError("--out", "the GSC layout is written into a folder you name", remedy="add --out DIR")
        gsc = synth_gsc.build_gsc_layout(cfg, args.out, workers=args.workers)
        print(f"{'reused' if gsc.cached else 'wrote'} the GSC layout in {gsc.out_dir}: "
              + ", ".join(f"{k} {v}" for k, v in gsc.counts.items()) + " utterances")
        return 0
    result = synth_digits.build_dataset(cfg, out_dir=args.out, workers=args.workers, force=args.force)
    print(f"{'reused cached' if result.cached else 'built'} data set in {result.out_dir}")
    for path in (result.train_path, result.test_path):
        print(shd.summarize(path).format())
    return 0


def _encode_audio(args: argparse.Namespace) -> int:
    from ..data.cochlea import CochleaConfig, encode_wav_file  # lazy: keeps `spikedeploy --help` free of scipy

    summary = encode_wav_file(args.wav, args.out, label=args.label, seed=args.seed,
                              config=CochleaConfig(mode=args.mode))
    print(summary)
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..data.shd import summarize  # lazy: keeps `spikedeploy --help` free of h5py

    print(summarize(args.file).format())
    return 0


def _where(args: argparse.Namespace) -> int:
    print(default_data_dir())
    return 0
