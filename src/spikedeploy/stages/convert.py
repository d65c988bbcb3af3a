"""The convert stage: a model trained elsewhere -> a spikedeploy checkpoint (``spikedeploy convert``).

:func:`convert` reads the foreign state dict with the named reader
(:mod:`spikedeploy.foreign`, weights only), and saves the converted network as a
spikedeploy checkpoint, atomically, recording where it came from under
``extra["converted"]``: the reader, the layout it recognised, the source file's name and
SHA-256, the options, and the notes on every way it differs from the source. Its float
forward pass is the source's; what Loihi's neuron lacks is left to ``spikedeploy fold``.

:func:`checkpoint_of` lets the other stages take a foreign file directly (``export-nir
SRC --from NAME``, ``fold SRC --from NAME``): it converts into a temporary checkpoint
that lives as long as the stage needs it.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..atomic import check_outputs
from ..foreign import Converted, ForeignOptions, read_foreign
from ..foreign.base import describe
from ..hashing import file_sha256
from ..training.checkpoint import save_checkpoint


@dataclass(frozen=True)
class ForeignSource:
    """How to read a foreign file: the reader (``--from``) and what the file does not store."""

    reader: str
    options: ForeignOptions = ForeignOptions()


@dataclass(frozen=True)
class ConvertOptions:
    """source: the foreign file; out: the checkpoint to write; how: reader and options."""

    source: Path
    out: Path
    how: ForeignSource


@dataclass(frozen=True)
class ConvertResult:
    checkpoint: Path
    converted: Converted


def convert(options: ConvertOptions) -> ConvertResult:
    """Convert ``options.source`` into the checkpoint ``options.out`` (module docstring)."""
    source, out = Path(options.source), Path(options.out)
    check_outputs({"checkpoint (-o)": out}, {"model": source})
    conv = read_foreign(source, options.how.reader, options.how.options)
    record = {"reader": conv.reader, "layout": conv.layout, "source": source.name,
              "source_sha256": file_sha256(source), "options": describe(options.how.options),
              "notes": list(conv.notes)}
    saved = save_checkpoint(out, conv.network, binning=conv.binning,
                            extra={"converted": record, "preset": f"converted from {conv.reader}"})
    return ConvertResult(saved, conv)


@contextlib.contextmanager
def checkpoint_of(path: Path, how: ForeignSource | None) -> Iterator[Path]:
    """``path`` itself (a spikedeploy checkpoint), or, with ``how``, a temporary checkpoint
    converted from it (removed afterwards)."""
    if how is None:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="spikedeploy-convert-") as tmp:
        out = Path(tmp) / (Path(path).stem + ".converted.pt")
        yield convert(ConvertOptions(Path(path), out, how)).checkpoint
