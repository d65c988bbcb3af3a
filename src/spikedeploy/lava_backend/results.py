"""The Lava results file: what ``spikedeploy lava-run --out results.npz`` writes and
``spikedeploy compare`` reads. Imports without Lava (numpy only).

One ``.npz`` (``np.savez_compressed``, written atomically), keys:

==========================  ==========================================================
``format``                  str ``"spikedeploy-lava-results"``
``version``                 int ``1``
``meta_json``               str, JSON: see :data:`META_KEYS` (and the optional extras)
``sample_indices``          int64 ``[N]``, indices into the data file
``labels``                  int64 ``[N]``
``predictions``             int64 ``[N]``
``readout``                 ``[N, n_out]``: int64 (``fixed_pt``) or float64 (``floating_pt``),
                            the value each prediction is the argmax of
``spikes__<layer>``         bool ``[N, T, n]`` per spiking layer, aligned to the input
                            (step t = the layer's response to input step t)
``readout_v__<layer>``      int64/float64 ``[N, T, n_out]``: the readout's voltage trace,
                            aligned (only with ``--save-voltage``)
==========================  ==========================================================

``docs/formats.md`` ("Lava results file") is the long form. :func:`write_results` /
:func:`read_results` write and read it; :meth:`LavaResults.check_source` says whether
a file belongs to a given model and data file (sha256 of their bytes).
"""

from __future__ import annotations

import json
import zipfile
import zlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..atomic import atomic_path
from ..errors import ConfigError, DataFormatError, ResultsMismatchError, ShapeMismatchError
from ..data.gsc import data_sha256
from ..hashing import file_sha256, indices_sha256

#: Value of the ``format`` key.
FORMAT = "spikedeploy-lava-results"
#: Value of the ``version`` key (a reader refuses newer versions).
VERSION = 1
#: Lava configurations a results file may come from.
CONFIGS = ("fixed_pt", "floating_pt")
#: Keys ``meta_json`` must hold (more may follow: readers ignore what they do not know).
META_KEYS = ("model_path", "model_sha256", "data_path", "data_sha256", "sample_indices_sha256", "config",
             "replicas", "gap_steps", "n_steps", "dt", "binning", "layer_names", "lava_version",
             "wall_time_s", "verified", "created", "spikedeploy_version")
#: Prefix of the per-layer spike trains and of the optional readout voltage.
SPIKES_PREFIX = "spikes__"
READOUT_V_PREFIX = "readout_v__"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True, eq=False)
class LavaResults:
    """The contents of a results file, validated on construction.

    ``meta``: the ``meta_json`` dict (:data:`META_KEYS` at least); ``spikes``:
    ``{layer: bool [N, T, n]}`` for the spiking layers; ``readout_voltage``:
    ``{layer: [N, T, n_out]}`` (may be empty).
    """

    meta: Mapping[str, Any]
    sample_indices: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    readout: np.ndarray
    spikes: Mapping[str, np.ndarray] = field(default_factory=dict)
    readout_voltage: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        meta = _jsonable(dict(self.meta))
        missing = [k for k in META_KEYS if k not in meta]
        if missing:
            raise ConfigError("results meta", f"missing keys {missing}", valid=META_KEYS)
        if meta["config"] not in CONFIGS:
            raise ConfigError("results meta config", f"unknown configuration {meta['config']!r}", valid=CONFIGS)
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise ConfigError("results meta", f"must be plain JSON data (finite numbers): {err}") from None
        object.__setattr__(self, "meta", meta)
        idx = self._int_vector("sample_indices", self.sample_indices)
        n = idx.shape[0]
        object.__setattr__(self, "sample_indices", idx)
        for name in ("labels", "predictions"):
            arr = self._int_vector(name, getattr(self, name))
            if arr.shape != (n,):
                raise ShapeMismatchError(f"results {name}", (n,), arr.shape)
            object.__setattr__(self, name, arr)
        readout = np.asarray(self.readout)
        want = np.int64 if meta["config"] == "fixed_pt" else np.float64
        if readout.ndim != 2 or readout.shape[0] != n:
            raise ShapeMismatchError("results readout", f"[{n}, n_out]", readout.shape)
        if readout.dtype != want:
            if meta["config"] == "fixed_pt" and not np.issubdtype(readout.dtype, np.integer):
                raise ConfigError("results readout", f"a fixed_pt readout holds integers, got {readout.dtype}")
            readout = readout.astype(want)
        object.__setattr__(self, "readout", readout)
        n_steps = int(meta["n_steps"])
        layers = list(meta["layer_names"])
        spikes = {}
        for name, s in dict(self.spikes).items():
            if name not in layers:
                raise ConfigError("results spikes", f"layer {name!r} is not in layer_names", valid=layers)
            s = np.asarray(s)
            if s.ndim != 3 or s.shape[:2] != (n, n_steps):
                raise ShapeMismatchError(f"results spikes of {name!r}", f"[{n}, {n_steps}, n]", s.shape)
            if s.dtype != bool:
                if not np.isin(s, (0, 1)).all():
                    raise ConfigError(f"results spikes of {name!r}", "spikes must be 0 or 1")
                s = s.astype(bool)
            spikes[name] = s
        object.__setattr__(self, "spikes", spikes)
        volts = {}
        for name, v in dict(self.readout_voltage).items():
            v = np.asarray(v)
            if v.ndim != 3 or v.shape[:2] != (n, n_steps) or v.shape[2] != readout.shape[1]:
                raise ShapeMismatchError(f"results readout voltage of {name!r}",
                                         f"[{n}, {n_steps}, {readout.shape[1]}]", v.shape)
            volts[name] = v.astype(want)
        object.__setattr__(self, "readout_voltage", volts)

    @staticmethod
    def _int_vector(name: str, value: Any) -> np.ndarray:
        arr = np.asarray(value)
        if arr.ndim != 1:
            raise ShapeMismatchError(f"results {name}", "[N]", arr.shape)
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ConfigError(f"results {name}", f"must be integers, got dtype {arr.dtype}")
        return arr.astype(np.int64)

    # --- views ------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.sample_indices.shape[0])

    @property
    def config(self) -> str:
        return str(self.meta["config"])

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.meta["layer_names"])

    @property
    def accuracy(self) -> float:
        """Fraction of predictions equal to the labels (nan for no samples)."""
        return float(np.mean(self.predictions == self.labels)) if self.n_samples else math.nan

    def firing_rates(self) -> dict[str, float]:
        """Mean spikes per neuron per step, per spiking layer."""
        return {k: float(v.mean()) if v.size else 0.0 for k, v in self.spikes.items()}

    def check_source(self, *, model_path: str | Path | None = None, data_path: str | Path | None = None,
                     sample_indices: Any = None, path: str | Path = "<results>") -> None:
        """Raise ResultsMismatchError if the model / data file bytes (sha256) or the sample
        indices differ from those the results were made from."""
        checks = []
        if model_path is not None:
            checks.append(("model_sha256", self.meta["model_sha256"], file_sha256(model_path)))
        if data_path is not None:
            checks.append(("data_sha256", self.meta["data_sha256"], data_sha256(data_path)))
        if sample_indices is not None:
            checks.append(("sample_indices_sha256", self.meta["sample_indices_sha256"],
                           indices_sha256(sample_indices)))
        for key, mine, theirs in checks:
            if mine != theirs:
                raise ResultsMismatchError(path, key, theirs, mine)


def write_results(path: str | Path, results: LavaResults) -> Path:
    """Write ``results`` to ``path`` (``.npz``, compressed) atomically; return the path."""
    if not isinstance(results, LavaResults):
        raise ConfigError("results", f"expected LavaResults, got {type(results).__name__}")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "version": np.array(VERSION, dtype=np.int64),
        "meta_json": np.array(json.dumps(results.meta, sort_keys=True)),
        "sample_indices": results.sample_indices, "labels": results.labels,
        "predictions": results.predictions, "readout": results.readout,
    }
    for name, s in results.spikes.items():
        arrays[SPIKES_PREFIX + name] = s
    for name, v in results.readout_voltage.items():
        arrays[READOUT_V_PREFIX + name] = v
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:          # a file object: numpy does not append ".npz"
            np.savez_compressed(fh, **arrays)
    return Path(path)


#: What numpy and zipfile raise on a damaged, truncated, empty or pickled (object array) .npz.
_UNREADABLE = (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)
_REMEDY_WRITE = "write it with `spikedeploy lava-run ... --out FILE`"


def read_results(path: str | Path) -> LavaResults:
    """Read and validate a results file; DataFormatError names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no such file", remedy=_REMEDY_WRITE)
    try:
        npz = np.load(path, allow_pickle=False)
    except _UNREADABLE as err:
        raise DataFormatError(path, f"not a .npz results file ({type(err).__name__}: {err})",
                              remedy=_REMEDY_WRITE) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataFormatError(path, "holds one array, not a results file (.npz)", remedy=_REMEDY_WRITE)
    with npz:
        try:
            return _read_npz(path, npz)
        except _UNREADABLE as err:
            raise DataFormatError(path, f"cannot be read as a results file ({type(err).__name__}: {err})",
                                  remedy="the file is damaged or not a spikedeploy Lava results file; "
                                         + _REMEDY_WRITE) from None


def _read_npz(path: Path, npz: Any) -> LavaResults:
    keys = set(npz.files)
    for key in ("format", "version", "meta_json", "sample_indices", "labels", "predictions", "readout"):
        if key not in keys:
            raise DataFormatError(path, "key is missing", field=key,
                                  remedy="the file is damaged or not a spikedeploy Lava results file")
    fmt = str(npz["format"])
    if fmt != FORMAT:
        raise DataFormatError(path, f"format is {fmt!r}, expected {FORMAT!r}", field="format")
    version = int(npz["version"])
    if version > VERSION:
        raise DataFormatError(path, f"results format version {version} is newer than this spikedeploy "
                                    f"reads ({VERSION})", field="version", remedy="upgrade spikedeploy")
    try:
        meta = json.loads(str(npz["meta_json"]))
    except json.JSONDecodeError as err:
        raise DataFormatError(path, f"meta_json is not JSON ({err})", field="meta_json") from None
    if not isinstance(meta, dict):
        raise DataFormatError(path, f"meta_json holds a {type(meta).__name__}, not a table", field="meta_json")
    spikes = {k[len(SPIKES_PREFIX):]: npz[k] for k in npz.files if k.startswith(SPIKES_PREFIX)}
    volts = {k[len(READOUT_V_PREFIX):]: npz[k] for k in npz.files if k.startswith(READOUT_V_PREFIX)}
    try:
        return LavaResults(meta=meta, sample_indices=npz["sample_indices"], labels=npz["labels"],
                           predictions=npz["predictions"], readout=npz["readout"], spikes=spikes,
                           readout_voltage=volts)
    except (ConfigError, ShapeMismatchError) as err:
        raise DataFormatError(path, f"inconsistent contents: {err}",
                              remedy="the file is damaged; rerun `spikedeploy lava-run`") from None
