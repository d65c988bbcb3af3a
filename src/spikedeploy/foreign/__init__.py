"""Models trained elsewhere, read into spikedeploy networks (docs/foreign-models.md).

Two doors:

- files: a state dict saved by the seed papers' code, read by name (``--from``), one
  small module per source and one registry line each (:data:`READERS`):
  :mod:`.hr_gpn_snn` (the GPN authors), :mod:`.s2net` (Zimmer et al.), :mod:`.imp_snns`
  (Ponghiran & Roy). :func:`read_foreign` converts one; :func:`detect` names the
  layouts a state dict matches, so that a file given without ``--from`` is answered
  with the ``--from`` to use.
- modules: a live ``nn.Sequential`` of snnTorch, norse or SpikingJelly layers
  (:func:`spikedeploy.foreign.modules.from_module`), compared in the tests with the
  libraries' own forward passes.

Every reader gives a :class:`~spikedeploy.foreign.base.Converted`: the network (float,
evaluation mode), the binning the source used when it can tell, and notes naming every
difference from the source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from ..errors import ForeignModelError
from . import hr_gpn_snn, imp_snns, s2net
from .base import Converted, ForeignOptions, Reader, StateDict
from .load import read_state_dict, unwrap

#: Readers of foreign state dicts by ``--from`` name (one line per source).
READERS: dict[str, Reader] = {r.name: r for r in (hr_gpn_snn.READER, s2net.READER, imp_snns.READER)}


def detect(tensors: Mapping[str, torch.Tensor], source: str | Path = "state dict") -> list[tuple[str, str]]:
    """``(reader name, layout)`` of every reader that recognises ``tensors``."""
    found = []
    for name, reader in READERS.items():
        try:
            layout = reader.detect(StateDict(tensors, str(source), name))
        except Exception:  # noqa: BLE001 - a detector that trips over odd tensors recognises nothing
            layout = None
        if layout:
            found.append((name, layout))
    return found


def suggestion(tensors: Mapping[str, torch.Tensor], source: str | Path) -> str:
    """What to say about a state dict given where a spikedeploy checkpoint was expected."""
    found = detect(tensors, source)
    if found:
        return "; ".join(f"it looks like {layout}: use --from {name}" for name, layout in found)
    return unknown_layout(tensors)


def unknown_layout(tensors: Mapping[str, torch.Tensor]) -> str:
    keys = sorted(tensors)
    shown = ", ".join(f"{k} {list(tensors[k].shape)}" for k in keys[:8]) + (" ..." if len(keys) > 8 else "")
    known = "; ".join(f"{name} ({r.keys})" for name, r in READERS.items())
    return f"no known layout matches its keys ({shown}); the known layouts: {known}"


def read_foreign(path: str | Path, reader: str, options: ForeignOptions = ForeignOptions()) -> Converted:
    """Read the state dict in ``path`` with the reader called ``reader`` (``--from``)."""
    if reader not in READERS:
        raise ForeignModelError(path, f"unknown --from {reader!r}", remedy=f"one of: {', '.join(READERS)}")
    return convert_state(read_state_dict(path), reader, options, source=path)


def convert_state(tensors: Mapping[str, torch.Tensor], reader: str, options: ForeignOptions = ForeignOptions(),
                  *, source: str | Path = "state dict") -> Converted:
    """Convert an in-memory state dict with the reader called ``reader``."""
    r = READERS[reader]
    state = StateDict(unwrap(tensors, source), str(source), reader)
    if not r.detect(StateDict(state.tensors, str(source), reader)):
        others = [f"--from {n} ({layout})" for n, layout in detect(state.tensors, source) if n != reader]
        remedy = ("it matches " + ", ".join(others)) if others else f"a {reader} state dict holds {r.keys}"
        raise state.error(f"not a {reader} layout: {unknown_layout(state.tensors)}", remedy=remedy)
    return r.convert(state, options)


__all__ = ["Converted", "ForeignOptions", "READERS", "Reader", "StateDict", "convert_state", "detect",
           "read_foreign", "read_state_dict", "suggestion", "unknown_layout"]
