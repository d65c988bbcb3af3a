"""``spikedeploy lava-run`` (a NIR model on SHD-format data in Lava) and ``spikedeploy map`` (cores).

``lava-run model.nir --data test.h5 [--samples N] [--float] [--verify] [--replicas B]
[--out results.npz]`` calls the lava-run stage (:func:`spikedeploy.stages.lava_run.lava_run`); ``map model.nir
--chip loihi2`` calls :func:`spikedeploy.lava_backend.mapping.map_nir`. Exit status: 0 ok,
2 a project error (bad input, Lava missing, a layer that cannot be mapped), 3 ``--verify``
found a difference between Lava and the emulator (VerificationError).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..atomic import atomic_path, check_outputs
from ..errors import VerificationError
from .argtypes import non_negative_int as _non_negative_int
from .argtypes import positive_float as _positive_float
from .argtypes import positive_int as _positive_int

#: Exit status of ``lava-run --verify`` when Lava and the emulator differ.
EXIT_VERIFICATION_FAILED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lava-run", help="run a NIR model on SHD-format data in Lava (bit-accurate Loihi by default)",
        description="Stream the samples of an SHD-format file through the NIR model in ONE Lava run "
                    "(LIFReset between samples, B copies side by side), print accuracy, spike counts, firing "
                    "rates and wall time, and optionally write the per-sample predictions and spike trains "
                    "(docs/formats.md, 'Lava results file'). The graph's stored Loihi integers are used; a graph "
                    "without them (e.g. from another framework) is discretised with --dt and quantised here "
                    "(--calibrate). The binning comes from the graph's metadata, else from the options.",
        epilog="exit status: 0 ok; 2 bad input or a refused conversion (message names the file/node and the "
               "remedy); 3 --verify found a spike or voltage where Lava and the emulator differ. "
               "See docs/lava-backend.md.")
    p.add_argument("model", type=Path, help="NIR file (spikedeploy export-nir, or any framework's), or a Loihi 2 "
                                            "network file (fold --target loihi2: graded spikes between layers)")
    p.add_argument("--data", type=Path, required=True, metavar="FILE",
                   help="SHD-format HDF5 file to run (a folder means FOLDER/test.h5)")
    p.add_argument("--samples", type=_positive_int, default=None, metavar="N",
                   help="run N samples spread evenly over the classes (default: all)")
    p.add_argument("--float", dest="floating", action="store_true",
                   help="Lava's floating_pt models on the float network (no quantisation), compared with the "
                        "float PyTorch model; default: fixed_pt (bit-accurate Loihi) on the integers")
    p.add_argument("--verify", action="store_true",
                   help="replay the run in the project's emulator and fail (exit 3) at the first differing spike "
                        "or voltage, naming the layer, neuron, sample and step")
    p.add_argument("--replicas", type=_positive_int, default=None, metavar="B",
                   help="copies of the network side by side, each playing its own samples (default: one copy per "
                        "sample while all copies hold at most 70 M synapses, so samples never influence each "
                        "other; see docs/lava-backend.md)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE.npz",
                   help="write the results file (predictions, readout, aligned spike trains)")
    p.add_argument("--save-voltage", action="store_true", help="also store the readout's voltage trace")
    p.add_argument("--gap", type=_non_negative_int, default=None, metavar="G",
                   help="zero steps after each sample (default: the smallest gap after which the recurrent layers "
                        "are silent, so that samples do not influence each other; 0 when there is none)")
    p.add_argument("--max-gap", type=_non_negative_int, default=None, metavar="G",
                   help="longest gap searched (default: T)")
    p.add_argument("--dt", type=_positive_float, default=None, metavar="SECONDS",
                   help="time step for a graph that does not state one (default: its producer's convention, "
                        "else the input frame length, duration / time steps; for a norse graph: norse's dt)")
    p.add_argument("--producer", choices=("snntorch", "norse", "nir"), default=None,
                   help="read a graph another tool wrote with that tool's conventions (default: detected from "
                        "the graph; nir: as written); what was assumed is printed")
    p.add_argument("--calibrate", type=Path, default=None, metavar="DATA.h5",
                   help="SHD-format data to calibrate the quantiser on when the graph holds no Loihi integers "
                        "(a folder means FOLDER/train.h5; default: the data being run)")
    p.add_argument("--calib-samples", type=_positive_int, default=256, metavar="N",
                   help="calibration samples, spread over the classes (default 256)")
    p.add_argument("--allow-approx", action="store_true",
                   help="accept approximations (NIR parameters with no exact discrete form, values the quantiser "
                        "cannot represent) with a warning, instead of refusing")
    p.add_argument("--time-steps", type=_positive_int, default=None, metavar="T",
                   help="frames per sample (default: the graph's binning, else 100)")
    p.add_argument("--duration", type=_positive_float, default=None, metavar="SECONDS",
                   help="seconds of each sample binned (default: the graph's binning, else 1.0)")
    p.add_argument("--pool", type=_positive_int, default=None, metavar="P",
                   help="sum P adjacent channels into one input (default: the graph's binning, else 1)")
    p.add_argument("--binary", action=argparse.BooleanOptionalAction, default=None,
                   help="clip frames to 0/1 (default: the graph's binning, else yes; Loihi's input is binary "
                        "either way)")
    p.add_argument("--decays", choices=("auto", "groups", "per-neuron"), default="auto",
                   help="LIF processes: one per decay group (Loihi's neuron profiles), or one per layer with "
                        "per-neuron decays (simulation only); auto: groups up to 8 per layer (default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_lava_run, preload="spikedeploy.stages.lava_run")

    m = sub.add_parser(
        "map", help="partition a NIR model onto a chip's cores (cores per layer, memory, fits one chip?)",
        description="Split each layer of the NIR model over the chip's neuromorphic cores using the chip "
                    "profile's limits (neurons, synaptic memory, fan-in and fan-out axons per core; cores per "
                    "chip) and report cores per layer, synaptic memory, and whether it fits one chip. A layer that "
                    "cannot be mapped (e.g. a fan-in above the limit) is an error naming the layer and the limit; "
                    "limits the chip does not publish are reported as unchecked.",
        epilog="exit status: 0 mapped; 2 a layer cannot be mapped, or bad input. See docs/lava-backend.md.")
    m.add_argument("model", type=Path, help="NIR file, or a Loihi 2 network file (fold --target loihi2)")
    m.add_argument("--chip", default="loihi2", help="chip profile in hardware/ (default loihi2)")
    m.add_argument("--dt", type=_positive_float, default=None, metavar="SECONDS",
                   help="time step for a graph that does not state one (only affects what converts)")
    m.add_argument("--allow-approx", action="store_true", help="accept NIR approximations with a warning")
    m.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the report as JSON")
    m.set_defaults(handler=_map, preload="spikedeploy.lava_backend.mapping")


def _lava_run(args: argparse.Namespace) -> int:
    # lazy: keeps `spikedeploy --help` free of torch
    from ..stages import lava_run as stage, lava_run_graded as graded

    options = stage.LavaRunOptions(
        model=args.model, data=args.data, samples=args.samples, config="floating_pt" if args.floating else "fixed_pt",
        replicas=args.replicas, gap_steps=args.gap, max_gap=args.max_gap, verify=args.verify, dt=args.dt,
        calibrate=args.calibrate, calib_samples=args.calib_samples, allow_approx=args.allow_approx,
        binning=stage.BinningChoice(n_steps=args.time_steps, duration=args.duration, pool=args.pool,
                                    binary=args.binary),
        out=args.out, save_voltage=args.save_voltage, decays=args.decays, progress=not args.no_progress,
        producer=args.producer)
    run = graded.lava_run_graded if graded.takes(args.model) else stage.lava_run
    try:
        summary = run(options)
    except VerificationError as err:
        print(f"spikedeploy: verification failed: Lava and the emulator differ: {err}", file=sys.stderr)
        if args.out is not None:
            print(f"spikedeploy: {args.out} was not written", file=sys.stderr)
        return EXIT_VERIFICATION_FAILED
    print(summary.format())
    return 0


def _map(args: argparse.Namespace) -> int:
    from ..lava_backend.mapping import map_file  # lazy: keeps `spikedeploy --help` free of torch

    check_outputs({"report (--json)": args.json}, {"model": args.model})
    result = map_file(args.model, args.chip, dt=args.dt, allow_approx=args.allow_approx)
    print(f"model: {args.model} ({result.source})")
    for note in result.notes:
        print(f"note: {note}")
    print(result.report.format())
    if args.json is not None:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"model": str(args.model), "source": result.source, "notes": list(result.notes),
                                       **result.report.to_dict()}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
