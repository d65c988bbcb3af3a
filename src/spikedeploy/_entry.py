"""The console scripts' entry points: the first code a command runs.

Ctrl-C or SIGTERM while the command's modules are imported (the command line's, then its
library's: torch takes a second or two) ends the process at once with one line and exit
status 130 / 143: nothing has been started or written yet, and an exception raised into
the middle of an import could leave a half-imported module that fails later. Once the
command runs, the command line's own handling takes over (:func:`spikedeploy.cli.run`).
Nothing but the standard library is imported before the handlers are in place.
"""

from __future__ import annotations

import os
import signal
import sys


def _early(signum: int, frame: object) -> None:
    os.write(2, f"spikedeploy: interrupted by {signal.Signals(signum).name} while starting\n".encode())
    os._exit(128 + signum)


def _guarded(argv: list[str] | None) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _early)
    from .cli import main as cli_main  # lazy: the handlers above must be in place while it imports

    return cli_main(argv)


def main() -> int:
    """``spikedeploy``."""
    return _guarded(None)


def export_nir() -> int:
    """``export-nir``: the same as ``spikedeploy export-nir``."""
    return _guarded(["export-nir", *sys.argv[1:]])
