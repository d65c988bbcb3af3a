"""A small wrapper around the ``espeak-ng`` speech synthesiser (a program, not a package).

Only what the synthetic data set needs: find the program, its version and its data
folder, list the installed voice variants (``espeak-ng-data/voices/!v``), and speak a
word with a voice, variant, speed and pitch into float samples.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, SpikedeployError
from .wav import read_wav

PROGRAM = "espeak-ng"
INSTALL_HINT = ("install espeak-ng, e.g. `apt-get install espeak-ng` (Debian/Ubuntu), "
                "`brew install espeak-ng` (macOS) or `conda install -c conda-forge espeak-ng`")


def find_espeak() -> str:
    """Path of the ``espeak-ng`` program; :class:`MissingDependencyError` if it is not on PATH."""
    path = shutil.which(PROGRAM)
    if path is None:
        raise MissingDependencyError("espeak-ng (the speech synthesiser that makes the synthetic digits)",
                                     INSTALL_HINT)
    return path


@dataclass(frozen=True)
class EspeakInfo:
    program: str
    version: str
    data_dir: Path | None
    variants: tuple[str, ...]   #: names in voices/!v, sorted


@functools.lru_cache(maxsize=4)
def _info(program: str) -> EspeakInfo:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise MissingDependencyError(f"espeak-ng at {program} cannot be run ({err})", INSTALL_HINT) from None
    m = re.search(r"text-to-speech:\s*(\S+)", out)
    version = m.group(1) if m else out.strip().splitlines()[0] if out.strip() else "unknown"
    d = re.search(r"Data at:\s*(.+)$", out, flags=re.M)
    data_dir = Path(d.group(1).strip()) if d else None
    variants: tuple[str, ...] = ()
    if data_dir is not None and (data_dir / "voices" / "!v").is_dir():
        variants = tuple(sorted(p.name for p in (data_dir / "voices" / "!v").iterdir() if p.is_file()))
    return EspeakInfo(program=program, version=version, data_dir=data_dir, variants=variants)


def espeak_info() -> EspeakInfo:
    """Version, data folder and installed variants of the ``espeak-ng`` on PATH."""
    return _info(find_espeak())


def speak(word: str, *, voice: str, variant: str | None = None, speed: int = 175, pitch: int = 50,
          workdir: str | Path | None = None, program: str | None = None) -> tuple[np.ndarray, int]:
    """Speak ``word`` and return ``(samples, rate)`` (float32 in [-1, 1), espeak's own rate).

    ``voice`` is a language voice (``en``, ``en-us``, ``de``, ...), ``variant`` a name from
    ``voices/!v`` (``m3``, ``f2``, ``klatt4``, ...), ``speed`` in words per minute,
    ``pitch`` 0..99 (50 = the voice's own).
    """
    program = program or find_espeak()
    name = f"{voice}+{variant}" if variant else voice
    fd, tmp = tempfile.mkstemp(prefix="espeak.", suffix=".wav", dir=workdir)
    os.close(fd)
    try:
        cmd = [program, "-v", name, "-s", str(int(speed)), "-p", str(int(pitch)), "-w", tmp, word]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise MissingDependencyError(f"espeak-ng ({program})", INSTALL_HINT) from None
        except subprocess.SubprocessError as err:
            raise SpikedeployError(f"espeak-ng failed on {word!r} with voice {name}: {err}") from None
        if proc.returncode != 0 or os.path.getsize(tmp) <= 44:
            raise SpikedeployError(f"espeak-ng made no audio for {word!r} with voice {name} "
                                   f"(exit status {proc.returncode}): {proc.stderr.strip()[:300]}",
                                   remedy=f"check that `{' '.join(cmd[:-3])} -w out.wav {word}` works")
        return read_wav(tmp)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
