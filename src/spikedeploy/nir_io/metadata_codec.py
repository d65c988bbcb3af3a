"""Lossless encoding of metadata (nested dicts of arrays and plain values) for NIR files.

``nir.write`` stores a metadata dict as HDF5 groups and datasets, and ``nir.read``
reads it back with ``dataset[()]``. That round trip keeps numeric numpy arrays bit
for bit, but it cannot store ``None``, lists of mixed things, numpy unicode arrays,
0-d or empty arrays (h5py refuses to compress them), and it turns Python scalars
into numpy scalars and skips any empty dict under a key called ``metadata``.

:func:`encode` turns a value into something ``nir.write`` stores faithfully, and
:func:`decode` undoes it after ``nir.read``:

- a ``dict`` with ``str`` keys becomes a group (keys ``metadata`` and keys that
  start with ``~`` get one ``~`` in front, removed again on decoding; keys may not
  contain ``/``);
- a list or tuple that holds a dict or an array becomes a group with the items
  under "0", "1", ... and the length under the marker key ``~list``;
- a numeric or boolean numpy array with at least one dimension and one element is
  stored as it is (same dtype, same bits);
- ``bool``, ``int``, ``float`` and ``str`` are stored as HDF5 scalars and come back
  as the same Python type (a ``str`` that starts with :data:`TAG` is tagged);
- anything else (``None``, lists, tuples, numpy scalars, 0-d, empty or unicode
  arrays) becomes the string :data:`TAG` + JSON, with arrays as
  ``{"__ndarray__": dtype, "shape": [...], "data": [...]}``; tuples come back as
  lists, numpy scalars as 0-d arrays of their dtype.

Values written by other tools (not tagged) are decoded as they come: numpy scalars
become Python scalars, strings and arrays stay.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError

#: Prefix of a JSON-encoded leaf.
TAG = "json:"
_ESCAPE = "~"
#: Marker key of an encoded list (user keys starting with "~" are escaped to "~~...").
_LIST = "~list"
_NATIVE_KINDS = "biufc"


def _escape_key(key: str, where: str) -> str:
    if not isinstance(key, str):
        raise ConfigError(where, f"metadata keys must be strings, got {key!r}")
    if "/" in key or key in ("", "."):
        raise ConfigError(where, f"metadata key {key!r} cannot be stored in HDF5 (empty, '.' or contains '/')")
    return _ESCAPE + key if key == "metadata" or key.startswith(_ESCAPE) else key


def _unescape_key(key: str) -> str:
    return key[1:] if key.startswith(_ESCAPE) else key


def _to_json(value: Any, where: str) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.kind not in _NATIVE_KINDS + "U":
            raise ConfigError(where, f"cannot store an array of dtype {arr.dtype} in NIR metadata")
        data = arr.ravel().tolist()
        if arr.dtype.kind == "f":
            data = [x if math.isfinite(x) else {"__float__": repr(x)} for x in data]
        return {"__ndarray__": arr.dtype.str, "shape": list(arr.shape), "data": data}
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        for k in value:
            if not isinstance(k, str):
                raise ConfigError(where, f"metadata keys must be strings, got {k!r}")
        return {"__dict__": {k: _to_json(v, f"{where}.{k}") for k, v in value.items()}}
    raise ConfigError(where, f"cannot store a value of type {type(value).__name__} in NIR metadata",
                      remedy="use dicts, lists, numbers, strings, None or numpy arrays")


def _from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    if isinstance(value, dict):
        if "__float__" in value:
            return float(value["__float__"])
        if "__ndarray__" in value:
            dtype = np.dtype(value["__ndarray__"])
            data = [_from_json(v) for v in value["data"]]
            return np.array(data, dtype=dtype).reshape(value["shape"])
        if "__dict__" in value:
            return {k: _from_json(v) for k, v in value["__dict__"].items()}
    return value


def encode(value: Any, where: str = "metadata") -> Any:
    """``value`` in a form that ``nir.write`` stores and :func:`decode` restores exactly."""
    if isinstance(value, Mapping):
        return {_escape_key(k, where): encode(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)) and any(_is_group_item(v) for v in value):
        out: dict[str, Any] = {_LIST: len(value)}
        out.update({str(i): encode(v, f"{where}[{i}]") for i, v in enumerate(value)})
        return out
    if isinstance(value, np.generic):  # numpy scalars keep their dtype (as 0-d arrays)
        return TAG + json.dumps(_to_json(value, where), allow_nan=False)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        # HDF5 stores 64-bit integers; larger ones go through JSON.
        return value if -2**63 <= value < 2**63 else TAG + json.dumps(value)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return TAG + json.dumps(value) if value.startswith(TAG) else value
    if (isinstance(value, np.ndarray) and value.ndim >= 1 and value.size >= 1
            and value.dtype.kind in _NATIVE_KINDS):
        return np.ascontiguousarray(value)
    return TAG + json.dumps(_to_json(value, where), allow_nan=False)


def _is_group_item(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple)) or (
        isinstance(value, np.ndarray) and value.ndim >= 1 and value.size >= 1
        and value.dtype.kind in _NATIVE_KINDS)


def decode(value: Any) -> Any:
    """Undo :func:`encode` on what ``nir.read`` returns (also accepts untagged foreign values)."""
    if isinstance(value, Mapping) and _LIST in value:
        return [decode(value[str(i)]) for i in range(int(value[_LIST]))]
    if isinstance(value, Mapping):
        return {_unescape_key(k): decode(v) for k, v in value.items()}
    if isinstance(value, bytes):
        value = value.decode("utf8")
    if isinstance(value, str):
        return _from_json(json.loads(value[len(TAG):])) if value.startswith(TAG) else value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
