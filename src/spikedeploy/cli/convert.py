"""``spikedeploy convert``: a model trained elsewhere -> a spikedeploy checkpoint, and the
``--from`` options that export-nir, quantize and fold share (docs/foreign-models.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .argtypes import non_negative_int, positive_float, positive_int

#: The --from names (spikedeploy.foreign.READERS; listed here so that --help needs no torch).
SOURCES = ("hr-gpn-snn", "s2net", "imp-snns")


def foreign_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    """``--from NAME`` and what foreign files do not store."""
    g = p.add_argument_group("models trained elsewhere (docs/foreign-models.md)")
    g.add_argument("--from", dest="source_format", choices=SOURCES, required=required, metavar="NAME",
                   help=f"read the file as a state dict saved by another tool's code: {', '.join(SOURCES)}")
    g.add_argument("--time-steps", type=positive_int, default=None, metavar="T",
                   help="frames per sample the source was trained with (hr-gpn-snn: its -T)")
    g.add_argument("--neuron", choices=("LIF", "IF", "GPN", "PLIF", "RLIF"), default=None,
                   help="hr-gpn-snn: the neuron where the keys cannot tell (LIF or IF)")
    g.add_argument("--tau", type=positive_float, default=5.0, help="hr-gpn-snn LIF: tau in steps (default 5)")
    g.add_argument("--v-th", type=positive_float, default=0.5, help="hr-gpn-snn: firing threshold (default 0.5)")
    g.add_argument("--no-lateral", action="store_true",
                   help="s2net: the layers were built with lateral_connections=False")
    g.add_argument("--n-bits", type=positive_int, default=None, help="imp-snns: the quantiser's bits")
    g.add_argument("--threshold", type=non_negative_int, default=None, help="imp-snns: the quantiser's threshold")


def foreign_source(args: argparse.Namespace):
    """The stage's ForeignSource for the parsed options (None without --from)."""
    if getattr(args, "source_format", None) is None:
        return None
    from ..stages.convert import ForeignOptions, ForeignSource  # lazy: no torch for --help

    return ForeignSource(args.source_format, ForeignOptions(
        time_steps=args.time_steps, neuron=args.neuron, tau=args.tau, v_th=args.v_th,
        lateral=not args.no_lateral, n_bits=args.n_bits, threshold=args.threshold))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="read a model trained with another tool's code into a spikedeploy checkpoint",
        description="Read SRC, a state dict saved by the GPN authors' code (hr-gpn-snn), s2net's or Ponghiran & "
                    "Roy's (imp-snns), into a "
                    "spikedeploy checkpoint whose float forward pass is the source's (what differs is printed). "
                    "Then fold / export-nir / lava-run it as any checkpoint. snnTorch, norse and SpikingJelly "
                    "networks convert from Python: spikedeploy.from_module(net).")
    p.add_argument("source", type=Path, metavar="SRC", help="the state dict file (torch.save(model.state_dict()))")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT.pt", help="the checkpoint to write")
    foreign_args(p, required=True)
    p.set_defaults(handler=_convert, preload="spikedeploy.stages.convert")


def _convert(args: argparse.Namespace) -> int:
    from ..stages.convert import ConvertOptions, convert  # lazy: keeps `spikedeploy --help` free of torch

    result = convert(ConvertOptions(args.source, args.out, foreign_source(args)))
    conv = result.converted
    print(f"read {args.source} as {conv.layout} (--from {conv.reader})")
    for note in conv.notes:
        print(f"  note: {note}")
    if conv.binning is not None:
        print(f"  binning: {conv.binning.n_steps} frames over {conv.binning.duration:g} s "
              f"({conv.binning.convention} convention)")
    print(f"wrote {result.checkpoint}")
    return 0
