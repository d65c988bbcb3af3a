"""The file a Loihi 2 fold writes: a :class:`~spikedeploy.quant.pr_graded.Loihi2Network` and its
report, as one ``.npz`` (numpy arrays; everything else as one JSON string, no pickles).

NIR has no neuron whose outputs are graded, multi-level spikes, or whose gates read its own
state, so this network is not a NIR graph: ``spikedeploy lava-run`` and ``spikedeploy map``
read the file directly (:func:`is_graded_file`). Written atomically; read back bit for bit.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..atomic import atomic_path
from ..errors import DataFormatError, SpikedeployError
from .loihi2_network import FORMAT, Loihi2Network

_REMEDY = "write it with `spikedeploy fold MODEL.pt --target loihi2 -o NET.npz` (a pr-v2 checkpoint)"


def save_graded(path: str | Path, net: Loihi2Network, report: Mapping[str, Any] | None = None) -> Path:
    """Write ``net`` (and the fold ``report``, plain data) to ``path`` atomically; returns the path."""
    d = net.to_dict()
    arrays: dict[str, np.ndarray] = {}
    layers = []
    for k, layer in enumerate(d["layers"]):
        plain = {}
        for key, value in layer.items():
            if isinstance(value, np.ndarray):
                arrays[f"layer{k}/{key}"] = value
            else:
                plain[key] = value
        layers.append(plain)
    header = {**{k: v for k, v in d.items() if k != "layers"}, "layers": layers, "report": dict(report or {})}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, header=np.array(json.dumps(header, default=_plain)), **arrays)
    return Path(path)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "tolist"):               # torch tensors in a fold report
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not plain data")


def _open(path: str | Path) -> Any:
    """The file as an open NpzFile, or None when it is not a numpy zip (missing, empty, another kind)."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        return None
    return z if isinstance(z, np.lib.npyio.NpzFile) else None


def is_graded_file(path: str | Path) -> bool:
    """True when ``path`` is a file :func:`save_graded` wrote (its header says so)."""
    z = _open(path)
    if z is None:
        return False
    with z:
        try:
            return "header" in z.files and json.loads(str(z["header"])).get("format") == FORMAT
        except (ValueError, KeyError, AttributeError, json.JSONDecodeError):
            return False


def load_graded(path: str | Path) -> tuple[Loihi2Network, dict[str, Any]]:
    """``(network, fold report)`` from a file :func:`save_graded` wrote; DataFormatError naming the
    file otherwise (not such a file, or one whose network does not load: the problem named)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", remedy=_REMEDY)
    if not is_graded_file(path):
        raise DataFormatError(path, "not a Loihi 2 network file (spikedeploy.loihi2_network)", remedy=_REMEDY)
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        try:
            layers = []
            for k, plain in enumerate(header["layers"]):
                prefix = f"layer{k}/"
                layers.append({**plain, **{n[len(prefix):]: z[n] for n in z.files if n.startswith(prefix)}})
            report = header.pop("report", {})
            return Loihi2Network.from_dict({**header, "layers": layers}), report
        except SpikedeployError as err:
            raise DataFormatError(path, f"its network does not load: {err}", remedy=_REMEDY) from None
        except (KeyError, TypeError, ValueError) as err:
            raise DataFormatError(path, f"its network does not load ({type(err).__name__}: {err})",
                                  remedy=_REMEDY) from None
