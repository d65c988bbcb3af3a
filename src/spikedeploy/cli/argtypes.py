"""argparse ``type=`` validators shared by the CLI modules."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1, else a clear argparse error."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v
