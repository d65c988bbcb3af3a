"""argparse ``type=`` validators shared by the CLI modules."""

from __future__ import annotations

import argparse


def _int_at_least(text: str, low: int, wanted: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if v < low:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """An integer >= 1, else a clear argparse error."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0, else a clear argparse error."""
    return _int_at_least(text, 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0, else a clear argparse error."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v
