"""Atomic file writing: write to a temporary name beside the target, then rename.

A crash, an exception or Ctrl-C never leaves a half-written output behind: either
the old file (or none) stays, or the complete new one appears.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import SpikedeployError


def check_output_path(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking that its folder exists."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SpikedeployError(f"{path}: the folder {parent} does not exist",
                               remedy=f"create it first (mkdir -p {parent}) or choose another output path")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    On any exception the temporary file is removed and the exception propagates;
    the target is left untouched.
    """
    path = check_output_path(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file 0600; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
