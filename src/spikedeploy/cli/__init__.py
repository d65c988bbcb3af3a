"""The ``spikedeploy`` command line: thin argparse front ends over library functions.

Each stage has a module here with ``register(subparsers)``; the handlers import the
library lazily, so ``spikedeploy --help`` is instant and commands that do not need
Lava never import it. A :class:`~spikedeploy.errors.SpikedeployError` is printed as
a clear message (exit status 2) rather than a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__
from ..errors import Interrupted, SpikedeployError
from ..processes import interruptible

#: Modules under spikedeploy.cli that register subcommands, in --help order.
COMMAND_MODULES = ("main_job", "data", "train", "convert", "fold", "export", "lava", "compare")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikedeploy",
        description="Spiking audio networks from PyTorch to Loihi: data, training, quantisation, "
                    "NIR export, Lava simulation and cost counting.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def _version() -> str:
    return f"spikedeploy {__version__}"


#: A Ctrl-C or SIGTERM is raised again this often until it ends the command (a signal can land
#: where an exception is dropped, e.g. while torch is imported, and the command would go on).
REDELIVER_S = 0.5


def run(argv: list[str] | None, parser: argparse.ArgumentParser | None = None) -> int:
    """Parse ``argv`` and run the command: Ctrl-C and SIGTERM end it with one line and exit
    status 130 / 143 (:func:`spikedeploy.processes.interruptible`), a project error with one
    line and exit status 2.

    The command's library (``preload``: torch, h5py, Lava's wrappers) is imported before the
    guard is up: an exception raised into the middle of an import can leave a half-imported
    module behind that fails later, so a signal during the imports is left to the console
    script's entry (:mod:`spikedeploy._entry`), which ends the process at once."""
    try:
        args = (parser or build_parser()).parse_args(argv)
        if getattr(args, "preload", None):
            importlib.import_module(args.preload)
        with interruptible(REDELIVER_S):
            return int(args.handler(args) or 0)
    except SpikedeployError as err:
        print(f"spikedeploy: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as err:
        print(f"spikedeploy: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:               # outside the main thread, where no handler is installed
        print("spikedeploy: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("spikedeploy: error: out of memory\n  remedy: a smaller network, fewer time steps, a smaller "
              "batch, or fewer samples at once", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. `spikedeploy data info F | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def main(argv: list[str] | None = None) -> int:
    return run(argv)


def export_nir_main(argv: list[str] | None = None) -> int:
    """The ``export-nir`` shortcut: same as ``spikedeploy export-nir``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["export-nir", *argv])
