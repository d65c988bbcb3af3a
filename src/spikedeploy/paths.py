"""Where spikedeploy keeps things it builds for you (the default data set, runs)."""

from __future__ import annotations

import os
from pathlib import Path

#: Root of the project checkout (src/spikedeploy/paths.py -> ../../..).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Chip profiles (``hardware/*.toml``) shipped with the project.
HARDWARE_DIR = PROJECT_ROOT / "hardware"


def cache_dir() -> Path:
    """The cache folder: ``$SPIKEDEPLOY_CACHE`` if set, else ``$XDG_CACHE_HOME/spikedeploy``,
    else ``~/.cache/spikedeploy``. Created on first use."""
    env = os.environ.get("SPIKEDEPLOY_CACHE")
    if env:
        root = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "spikedeploy"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_data_dir() -> Path:
    """Folder of the built-in default data set (synthetic spoken digits, SHD format)."""
    return cache_dir() / "synth-digits"
