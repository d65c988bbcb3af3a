"""Reading a foreign model file: a state dict saved with ``torch.save``, weights only.

``torch.save(model.state_dict(), path)`` is what the seed papers' code saves; a dict that
wraps one under a common key (``state_dict``, ``model_state_dict``, ``model``, ``net``)
is unwrapped. A pickled whole module is refused: loading it would run its code.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import ForeignModelError

#: Keys under which training scripts commonly nest the state dict.
WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "network")
_SAVE_REMEDY = "save the weights alone: torch.save(model.state_dict(), path)"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of the state dict in ``path`` (``weights_only`` loading)."""
    path = Path(path)
    if not path.is_file():
        raise ForeignModelError(path, "file not found" if not path.exists() else "not a file",
                                remedy="check the path of the model file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _refusal(path, str(err)) from None
    except Exception as err:  # noqa: BLE001 - random bytes fail in many ways (EOFError, RuntimeError, ...)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ForeignModelError(path, f"not a torch file ({first})", remedy=_SAVE_REMEDY) from None
    return unwrap(obj, path)


def unwrap(obj: Any, source: str | Path) -> dict[str, torch.Tensor]:
    """The flat ``{key: tensor}`` state dict in ``obj`` (itself, or nested under a wrapper key)."""
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        inner = [k for k in WRAPPERS if isinstance(obj.get(k), Mapping) and _is_state_dict(obj[k])]
        if inner:
            obj = obj[inner[0]]
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        what = type(obj).__name__ if not isinstance(obj, Mapping) else \
            f"a dict whose values are not all tensors (keys {sorted(map(str, obj))[:6]})"
        raise ForeignModelError(source, f"not a state dict: the file holds {what}", remedy=_SAVE_REMEDY)
    return {str(k): v for k, v in obj.items()}


def _is_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _refusal(path: Path, msg: str) -> ForeignModelError:
    found = re.search(r"Unsupported (?:class|global):? (?:GLOBAL )?([\w.]+)", msg)
    if found:
        return ForeignModelError(path, f"refused: the file holds pickled Python objects (first: {found.group(1)}), "
                                       "as a whole model saved with torch.save(model) does; loading them would run "
                                       "code, and only weights are read", remedy=_SAVE_REMEDY)
    detail = msg.split("WeightsUnpickler error:")[-1].strip().splitlines()[0] if msg else "unpickling failed"
    return ForeignModelError(path, f"not a torch file ({detail})", remedy=_SAVE_REMEDY)
