"""The console scripts' entry points: the first code a command runs.

Ctrl-C or SIGTERM before the command line is built (while its modules are imported) ends the
command with one line and exit status 130 / 143 instead of a traceback; from there on the
command line's own handling takes over (:func:`spikedeploy.cli.run`). Nothing but the
standard library is imported before the handlers are in place.
"""

from __future__ import annotations

import signal
import sys


def _early(signum: int, frame: object) -> None:
    print(f"spikedeploy: interrupted by {signal.Signals(signum).name} while starting", file=sys.stderr)
    sys.exit(128 + signum)


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
