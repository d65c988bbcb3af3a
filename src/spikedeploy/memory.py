"""Refusing work that cannot fit in memory before it starts, with the estimate.

A setting such as ``--time-steps 1000000000`` or ``--hidden 1000000000`` would otherwise
fail deep inside numpy or torch with an allocation error (or be killed by the system) after
minutes of work. The stages add up a lower bound of what they will hold (``{what: bytes}``)
and :func:`require` compares it with the memory the machine has available.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .errors import ConfigError

MEMINFO = Path("/proc/meminfo")


def available_bytes() -> int | None:
    """The memory available to a new allocation (Linux ``MemAvailable``); None when unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gib(n: float) -> str:
    return f"{n / 2 ** 30:,.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:,.0f} MiB"


def require(parts: Mapping[str, int], field: str, *, remedy: str, available: int | None = None) -> int:
    """Raise ConfigError naming ``field`` when the parts (bytes, a lower bound) add up to more
    than the available memory; return the total. ``available``: for tests (default: the machine's)."""
    total = int(sum(parts.values()))
    avail = available_bytes() if available is None else available
    if avail is not None and total > avail:
        detail = ", ".join(f"{what} {gib(n)}" for what, n in parts.items() if n >= 2 ** 20)
        raise ConfigError(field, f"needs at least {gib(total)} of memory ({detail}), more than the {gib(avail)} "
                                 "this machine has available", remedy=remedy)
    return total
