"""Atomic file writing: write to a temporary name beside the target, then rename.

A crash, an exception or Ctrl-C never leaves a half-written output behind: either
the old file (or none) stays, or the complete new one appears.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

from .errors import SpikedeployError


def check_output_path(path: str | Path) -> Path:
    """Return ``path`` as a Path after checking that its folder exists and that it is not a
    folder itself."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SpikedeployError(f"{path}: the folder {parent} does not exist",
                               remedy=f"create it first (mkdir -p {parent}) or choose another output path")
    if path.is_dir():
        raise SpikedeployError(f"{path}: is a folder, and an output file of that name is to be written",
                               remedy=f"name a file, e.g. {path / ('out' + (path.suffix or ''))}")
    return path


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file: the same inode when both exist (hard and
    symbolic links, ``./``), else the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_outputs(outputs: Mapping[str, str | Path | None], inputs: Mapping[str, str | Path | None]) -> None:
    """Before anything is written: every output (``{what: path}``, None for none) must be
    writable (:func:`check_output_path`), none may be one of the inputs, and no two outputs may
    be the same file. The error names both paths and what each is."""
    outs = {k: Path(v) for k, v in outputs.items() if v is not None}
    ins = {k: Path(v) for k, v in inputs.items() if v is not None}
    for what, out in outs.items():
        for src, path in ins.items():
            if same_file(out, path):
                raise SpikedeployError(f"{out}: the output {what} is the input {src} ({path}); writing it would "
                                       "destroy the input", remedy=f"write the {what} to another file")
        check_output_path(out)
    names = list(outs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if same_file(outs[a], outs[b]):
                raise SpikedeployError(f"{outs[a]}: the outputs {a} and {b} are the same file",
                                       remedy=f"give the {a} and the {b} different paths")


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
