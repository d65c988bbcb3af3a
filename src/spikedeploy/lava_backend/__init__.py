"""The Lava backend: the only part of spikedeploy that imports Lava, and only lazily.

* :mod:`.convert`: NIR graph -> NetworkSpec and the Lava side of each node (a registry);
* :mod:`.adapters`: an integer network (``fixed_pt`` / ``floating_pt``) or a float spec
  (``floating_pt``) -> what Lava's processes are given;
* :mod:`.build`: that -> Lava's own processes (RingBuffer source, Dense/Sparse, LIFReset
  per decay group, recorders), replicated side by side for throughput;
* :mod:`.run`: run a stream of samples in one Lava run, read the recordings back, check
  them against the emulator;
* :mod:`.stream`: plan a stream (copies, gap, LIF processes) and read it back;
* :mod:`.results` (the results file) and :mod:`.mapping` (cores), which need no Lava.

Importing this package does not import Lava; the functions that need it raise
:class:`~spikedeploy.errors.MissingDependencyError` with an install hint when it
is missing.
"""

from __future__ import annotations

import importlib

from ..errors import MissingDependencyError

INSTALL_HINT = ("run `scripts/sd setup` (creates .venv with Lava on Python 3.10), "
                "or `pip install 'spikedeploy[lava]'` (lava-nc 0.10 needs Python 3.10)")


def lava_available() -> bool:
    """True when lava-nc can be imported."""
    try:
        require_lava()
    except MissingDependencyError:
        return False
    return True


def require_lava() -> None:
    """Import lava-nc's core or raise MissingDependencyError with an install hint.

    Lava calls ``multiprocessing.set_start_method('fork')`` when its message
    infrastructure is first imported, without ``force``, which raises "context has
    already been set" if anything in this process fixed the start method before
    (e.g. a call to ``multiprocessing.get_context()``). Lava needs ``fork`` anyway,
    so the start method is cleared first (public API: ``set_start_method(None,
    force=True)``) and Lava sets it to ``fork``.
    """
    import multiprocessing
    import sys

    infra = "lava.magma.runtime.message_infrastructure.multiprocessing"
    try:
        if infra not in sys.modules:
            import lava  # noqa: F401  (fails fast when Lava is missing)
            if multiprocessing.get_start_method(allow_none=True) is not None:
                multiprocessing.set_start_method(None, force=True)
            importlib.import_module(infra)
        import lava.magma.core.run_configs  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError(f"lava-nc (Lava's simulator; {err})", INSTALL_HINT) from None
