"""``spikedeploy export-nir`` (also the ``export-nir`` command) and ``spikedeploy quantize``.

``export-nir model.pt [-o model.nir] [--quantized] [--data DIR] [--allow-approx]`` loads a
checkpoint (weights only), reads it into a NetworkSpec, optionally quantises it to
Loihi's integers (calibrated on DIR/train.h5, default: the built-in data set) and
writes the NIR graph with the integer network and the model/data configuration in
its metadata. ``quantize model.pt`` prints the per-layer quantisation report only.
Both call the export stage (:func:`spikedeploy.stages.export.export`).
"""

from __future__ import annotations

import argparse
from pathlib import Path


from .argtypes import positive_int as _positive_int
from .convert import foreign_args, foreign_source


def _headroom(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not v >= 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}")
    return v


def _quant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="calibration data: DIR/train.h5 in the SHD format (default: the built-in data set, "
                        "see `spikedeploy data where`)")
    p.add_argument("--calib-samples", type=_positive_int, default=256, metavar="N",
                   help="calibration samples drawn from train.h5 (stratified by class; default 256)")
    p.add_argument("--headroom", type=_headroom, default=2.0, metavar="H",
                   help="calibrated maxima of the input current, u and v times H must fit the datapath (default 2)")
    p.add_argument("--weight-range", choices=("max", "mse"), default="max",
                   help="float range mapped onto the 8-bit weight grid: max (nothing clips; default) or mse "
                        "(the clip level that minimises the squared error; a few large weights clip)")
    p.add_argument("--allow-approx", action="store_true",
                   help="accept values Loihi cannot represent exactly (clipped weights, clamped thresholds, "
                        "spike counts > 1 in the input) with a warning, instead of refusing")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration sample draw (default 0)")
    foreign_args(p, required=False)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-nir", help="write a trained checkpoint as a NIR graph (optionally with Loihi integers)",
        description="Load model.pt (weights only), read it into a NetworkSpec and write it as NIR "
                    "(docs/nir-conventions.md). With --quantized, quantise it to Loihi's integer neuron, "
                    "calibrating on the data (DIR/train.h5), print the per-layer quantisation report and store "
                    "the integer network in the graph's metadata. An unfolded GPN is refused: run "
                    "`spikedeploy fold` first.")
    p.add_argument("checkpoint", type=Path, help="checkpoint written by `spikedeploy train` (or fold)")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="NIR file to write (default: the checkpoint's name with .nir)")
    p.add_argument("--quantized", action="store_true",
                   help="quantise to Loihi integers and store them in the graph (LoihiNetwork in the metadata)")
    p.add_argument("--input-gain", choices=("neuron", "synapse"), default="neuron",
                   help="where the 1/(du dv) input scaling goes (default neuron; synapse for norse)")
    p.add_argument("--for", dest="consumer", choices=("nir", "lava", "snntorch", "norse", "rockpool", "sinabs"),
                   default="nir", help="write the graph the named tool reads as meant (snntorch 1.0, norse 1.1), or "
                   "say why it cannot (rockpool 3.1, sinabs 3.1): docs/nir-conventions.md; default nir, the "
                   "standard form that Lava (lava-run) and our readers run")
    p.add_argument("--graded-input", type=_positive_int, default=0, metavar="BITS",
                   help="an s2net conv checkpoint trained on GSC features (--data GSC_DIR): its input as BITS-bit "
                        "graded spikes (Loihi 2; with --quantized), calibrated on the folder's training split")
    p.add_argument("--conv-nodes", action="store_true",
                   help="write an s2net conv checkpoint's layers as NIR Conv1d nodes (with Delay nodes for conv2d's "
                        "time taps) instead of their dense matrices; read back equal (docs/nir-conventions.md)")
    p.add_argument("--report", type=Path, default=None, metavar="FILE.json",
                   help="also write the quantisation report as JSON")
    _quant_args(p)
    p.set_defaults(handler=_export, preload="spikedeploy.stages.export")

    q = sub.add_parser(
        "quantize", help="quantise a checkpoint to Loihi integers and print the per-layer report",
        description="Calibrate and quantise model.pt to Loihi's integer neuron (as export-nir --quantized) "
                    "and print the per-layer quantisation report; nothing is written unless --report is given.")
    q.add_argument("checkpoint", type=Path, help="checkpoint written by `spikedeploy train` (or fold)")
    q.add_argument("--report", type=Path, default=None, metavar="FILE.json",
                   help="write the quantisation report as JSON")
    _quant_args(q)
    q.set_defaults(handler=_quantize, preload="spikedeploy.stages.export")


def _stage():
    """The export stage's module (imported here only: keeps `spikedeploy --help` free of torch)."""
    from ..stages import export as stage  # lazy: keeps `spikedeploy --help` free of torch

    return stage


def _options(args: argparse.Namespace, **kw):
    stage = _stage()
    quant = stage.QuantOptions(calib_samples=args.calib_samples, headroom=args.headroom,
                               allow_approx=args.allow_approx, weight_range=args.weight_range, seed=args.seed)
    return stage.ExportOptions(checkpoint=args.checkpoint, data_dir=args.data, quant=quant, report=args.report,
                               progress=True, foreign=foreign_source(args), **kw)


def _export(args: argparse.Namespace) -> int:
    out = args.out
    if out is None:
        out = args.checkpoint.with_suffix(".nir")
        if out == args.checkpoint:            # a file named model.nir: the default is not the input
            out = args.checkpoint.with_name(args.checkpoint.name + ".nir")
    result = _stage().export(_options(args, out=out, quantized=args.quantized, input_gain=args.input_gain,
                                      consumer=args.consumer, conv_nodes=args.conv_nodes,
                                      graded_input=args.graded_input))
    for note in result.notes:
        print(f"note ({args.consumer}): {note}")
    if result.report is not None:
        print(result.report.format())
    print(f"wrote {result.path} ({len(result.spec.layers)} layers"
          + (", with the Loihi integer network" if result.loihi is not None else ", float only") + ")")
    return 0


def _quantize(args: argparse.Namespace) -> int:
    result = _stage().export(_options(args, out=None, quantized=True))
    print(result.loihi.summary())
    print(result.report.format())
    return 0
