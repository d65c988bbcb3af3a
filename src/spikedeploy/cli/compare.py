"""``spikedeploy compare`` (float PyTorch vs emulator vs Lava, with a report) and
``spikedeploy pipeline`` (data -> train -> fold -> quantise -> NIR -> Lava -> compare).

``compare model.pt --lava-results results.npz [--data test.h5] [--nir model.nir] -o report/``
calls the compare stage (:func:`spikedeploy.stages.compare.compare`). ``pipeline [--config FILE] [--out DIR]
[--quick]`` calls the pipeline stage (:func:`spikedeploy.stages.pipeline.run_pipeline`).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path


from ..stages import STAGES
from .argtypes import positive_int as _positive_int


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed (``spikedeploy ...``), for the reports."""
    args = sys.argv[1:] if argv is None else argv
    return "spikedeploy " + " ".join(shlex.quote(a) for a in args)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="compare the float model, the emulator and a Lava run; write a report",
        description="Run the deployed float checkpoint (CUDA when present, else the CPU) and the bit-exact emulator "
                    "on the samples of a Lava results file, check that Lava equals the emulator exactly (every "
                    "spike, the predictions), count firing rates and SynOps per layer, estimate energy per "
                    "inference on Loihi and on the GPU (and measure the GPU through NVML when there is one), and "
                    "write a Markdown report with PNG plots. The quantised integers come from the NIR file the "
                    "results name (or --nir); its bytes and the data's must match the hashes in the results.")
    p.add_argument("checkpoint", type=Path, metavar="MODEL.pt",
                   help="the deployed float checkpoint (the one export-nir read: a folded GPN or a LIF network)")
    p.add_argument("--lava-results", type=Path, required=True, metavar="RESULTS.npz",
                   help="results file of `spikedeploy lava-run`")
    p.add_argument("--data", type=Path, default=None, metavar="TEST.h5",
                   help="the data file Lava ran on (default: the path recorded in the results)")
    p.add_argument("--nir", type=Path, default=None, metavar="MODEL.nir",
                   help="the quantised NIR file Lava ran (default: the path recorded in the results, else the same "
                        "file name beside the results file)")
    gpn = p.add_mutually_exclusive_group()
    gpn.add_argument("--gpn", type=Path, default=None, metavar="GPN.pt",
                     help="the GPN the model was folded from, counted before folding (default: the one the folded "
                          "checkpoint records, when that file exists)")
    gpn.add_argument("--no-gpn", action="store_true", help="do not count the GPN before folding")
    p.add_argument("-o", "--out", type=Path, default=Path("report"), metavar="DIR",
                   help="report folder (default report/)")
    p.add_argument("--chip", action="append", default=None, metavar="NAME",
                   help="neuromorphic chip profile for the energy estimate (repeatable; default loihi1 and loihi2; "
                        "profiles: hardware/*.toml)")
    p.add_argument("--gpu-profile", default="gpu", metavar="NAME",
                   help="per-operation profile of the arithmetic lower bound (default gpu: 45 nm MAC/AC)")
    p.add_argument("--device-model", action="append", default=None, metavar="NAME",
                   help="conventional device model to compare with (repeatable; default h200, jetson_orin_nano and "
                        "desktop_cpu; hardware/*.toml with [chip] device = gpu, cpu or accelerator)")
    p.add_argument("--batched", type=int, default=256, metavar="B",
                   help="also model the GPUs batched B samples per call (default 256; 0: not)")
    p.add_argument("--device", default="auto", help="float model: auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="samples per batch (default 128)")
    p.add_argument("--raster-sample", type=int, default=0, metavar="I",
                   help="which of the compared samples the raster plot shows (default 0)")
    p.add_argument("--no-gpu-measure", action="store_true", help="do not read the GPU's energy counter")
    p.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=_compare, preload="spikedeploy.stages.compare")

    q = sub.add_parser(
        "pipeline", help="the whole pipeline: data, train, fold, quantise, export-nir, lava-run, compare, report",
        description="Run every stage as a library call and write every artefact into DIR: checkpoints/, folded/, "
                    "nir/, lava/, report/ (report/README.md ties the models together) and pipeline.json (each "
                    "stage's settings hash and outputs). A second run with the same settings reuses the finished "
                    "stages. Settings: a TOML file (see spikedeploy.stages.pipeline_config), else the main job's defaults.")
    pipeline_args(q)
    q.add_argument("--config", type=Path, default=None, metavar="FILE.toml", help="pipeline settings (TOML)")
    q.add_argument("--out", type=Path, default=Path("pipeline-out"), metavar="DIR",
                   help="output folder (default pipeline-out/)")
    q.set_defaults(handler=_pipeline, preload="spikedeploy.stages.pipeline")


def pipeline_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--quick", action="store_true",
                   help="smoke-sized run: tiny synthetic data, small networks, one epoch (about a minute)")
    q.add_argument("--force", action="store_true", help="rerun every stage, even those already finished")
    q.add_argument("--until", choices=STAGES, default=None, metavar="STAGE",
                   help=f"stop after this stage ({', '.join(STAGES)})")
    q.add_argument("--workers", type=_positive_int, default=None,
                   help="processes for building the synthetic data (default: all cores)")
    q.add_argument("--threads", type=_positive_int, default=None, help="CPU threads for PyTorch")
    q.add_argument("--no-progress", action="store_true", help="no progress bars")


def _compare(args: argparse.Namespace) -> int:
    # lazy: keeps `spikedeploy --help` free of torch
    from ..stages.compare import CompareConfig, CompareOptions, compare, energy_headline, fmt_energy

    config = CompareConfig(chips=tuple(args.chip or ("loihi1", "loihi2")), gpu=args.gpu_profile, device=args.device,
                           devices=tuple(args.device_model or CompareConfig.devices), batched=args.batched,
                           batch_size=args.batch_size, raster_sample=args.raster_sample,
                           measure_gpu=not args.no_gpu_measure)
    gpn = None if args.no_gpn else (args.gpn if args.gpn is not None else "auto")
    result = compare(CompareOptions(checkpoint=args.checkpoint, results=args.lava_results, data=args.data,
                                    nir=args.nir, gpn=gpn, config=config, out=args.out, command=command_line(),
                                    threads=args.threads, progress=not args.no_progress), log=print)
    cmp = result.comparison
    for key, run in cmp.runs.items():
        print(f"{run.label:48s} accuracy {100 * run.accuracy:6.2f} %  rate/step {run.counts.spikes.rate_per_step:.4f}"
              f"  SynOps/inference {run.counts.synops.effective_ops:,.0f}")
    print("Lava equals the emulator exactly: " + ", ".join(cmp.checks["checked"]))
    for key, d in cmp.targets.items():
        print(f"energy {key:22s} {fmt_energy(d.joules.expected):>9s} per inference ({fmt_energy(d.joules.low)} to "
              f"{fmt_energy(d.joules.high)}; {d.kind}, {d.basis})")
    print(f"energy: {energy_headline(cmp)}")
    print(f"GPU measured: {fmt_energy(cmp.gpu_measured.joules_per_inference) if cmp.gpu_measured else cmp.gpu_status}")
    print(f"report: {result.report}")
    return 0


def run_pipeline_command(args: argparse.Namespace, config_file: Path | None, out: Path) -> int:
    """Shared by ``pipeline`` and ``main``: resolve the config, run, print where the report is."""
    from ..stages.pipeline import PipelineConfig, run_pipeline  # lazy: keeps `spikedeploy --help` free of torch

    base = PipelineConfig.quick() if args.quick else PipelineConfig.default()
    config = PipelineConfig.from_toml(config_file, base=base) if config_file is not None else base
    if args.threads:
        config = dataclasses.replace(config, threads=args.threads)
    result = run_pipeline(config, out, force=args.force, until=args.until, progress=not args.no_progress,
                          workers=args.workers, command=command_line())
    ran = sum(s.status == "ran" for s in result.stages)
    reused = sum(s.status == "reused" for s in result.stages)
    print(f"pipeline finished in {result.seconds:.1f} s ({ran} stages ran, {reused} reused); artefacts in {out}")
    for name, d in result.comparisons.items():
        acc = d["accuracy"]
        chip = d["config"]["chips"][0]
        head = d.get("energy_headline")
        energy = (f"{chip} {d['energy'][chip]['joules_per_inference'] * 1e9:.4g} nJ of operations" if head is None else
                  f"{head['device']} / {chip} energy {head['device_over_chip']['expected']:.3g}x "
                  f"({head['device_over_chip']['low']:.2g}x to {head['device_over_chip']['high']:.3g}x, device models)")
        print(f"  {name}: accuracy float {100 * acc['float']:.2f} %, emulator {100 * acc['emulator']:.2f} %, "
              f"Lava {100 * acc['lava']:.2f} %; {energy}")
    if result.report is not None:
        print(f"report: {result.report}")
    return 0


def _pipeline(args: argparse.Namespace) -> int:
    return run_pipeline_command(args, args.config, args.out)
