"""Reading SHD/SSC spike files (HDF5) and turning them into frames for training.

The file layout is the one of the Spiking Heidelberg Digits and Spiking Speech
Commands (Cramer et al. 2020), see :mod:`spikedeploy.data.shd_format`. Nothing
here assumes 20 classes: the class count comes from ``extra/keys`` (or from the
largest label when a file has no keys), so SSC's 35 classes work the same way.

Binning (:func:`bin_spikes`): frame ``k`` of ``n_steps`` covers the half-open time
interval ``[k * dt, (k + 1) * dt)`` with ``dt = duration / n_steps``. A spike exactly
at an edge belongs to the frame that starts there; spikes at or after ``duration``
are dropped. The edges are compared in float32, the precision the files store, so a
spike written as ``0.01`` lands in frame 1 of a 100-frame, 1 s binning even though
``float32(0.01) < 0.01``. Frames hold spike counts (or 1/0 with ``binary``); with
``pool = p`` feature ``j`` sums channels ``j*p .. j*p + p - 1`` (so ``n_channels``
must be a multiple of ``p``).

Binning a sample is one ``searchsorted`` of the frame edges into its (sorted) spike
times, which gives every frame's range of spikes exactly, and one ``bincount``.

**Spike times at frame edges.** The default convention compares the times as the files
store them (float32) with float32 edges. tonic (``tonic.datasets.SHD`` + ``ToFrame``) reads
them as integer microseconds (``int(float64(t) * 1e6)``, truncated) and compares those with
integer edges; the two differ for a spike within float32 rounding of an edge (measured: 3
of 600 test samples of the default data at 40 frames). ``convention = "tonic"`` bins exactly
as tonic does (``ToFrame(time_window=dt in us, start_time=0, end_time=duration)``; the frame
length must be a whole number of microseconds), checked against tonic's own reader.

``convention = "hr-gpn-snn"`` bins as the GPN authors' code does (``core/audio_dataset.py``
of hrje123/hr-GPN-SNN), so that a model converted from it sees what it was trained on:
frame ``k`` holds the spikes with ``(k - 1) dt < t <= k dt`` (frame 0: ``t <= 0``), so
spikes after ``(T - 1) dt`` are dropped; channel ``c`` is unit ``n_channels - c`` (the
channel axis is flipped) and unit 0 is dropped; counts, never clipped unless ``binary``.

:class:`ShdDataset` bins every sample once, on construction, into one compact
integer array (uint8, or uint16 when a count exceeds 255: counts never wrap) of
shape ``[N, n_steps, n_features]`` (SHD train: 8156 x 100 x 700 = 571 MB; with
``pool = 5``, 114 MB), shared by its subsets. When that array would exceed
``max_cache_bytes`` (default 1 GiB, e.g. SSC's 75k training samples at 700
channels) it bins each sample on the fly in ``__getitem__`` instead. Both paths give
identical frames. The spikes themselves stay in memory as two flat arrays
(float32 times, uint16 units: 6 bytes per spike).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataFormatError
from . import shd_format as fmt

_REMEDY_REGENERATE = ("the file is damaged or not in the SHD schema; download it again or rewrite it "
                      "with spikedeploy.data.shd_format.write_shd")


# --------------------------------------------------------------------------- binning

@dataclass(frozen=True)
class BinningConfig:
    """How spike events become frames.

    n_steps:    number of frames T.
    duration:   seconds covered by the frames; spikes at or after it are dropped.
    binary:     clip counts to 1 (a frame says "at least one spike").
    pool:       sum ``pool`` adjacent channels into one feature (700 -> 140 with 5).
    n_channels: input channels of the data (700 for SHD/SSC); must be a multiple of pool.
    convention: ``"spikedeploy"`` (frames ``[k dt, (k + 1) dt)`` in float32), ``"tonic"`` (the same
                frames in integer microseconds, as tonic reads them) or ``"hr-gpn-snn"`` (the
                GPN authors' frames and channel order); module docstring.
    """

    n_steps: int = 100
    duration: float = 1.0
    binary: bool = False
    pool: int = 1
    n_channels: int = fmt.N_CHANNELS
    convention: str = "spikedeploy"

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ConfigError("binning.convention", f"unknown convention {self.convention!r}", valid=CONVENTIONS)
        if self.convention == "tonic" and not float(self.duration * 1e6 / self.n_steps).is_integer():
            raise ConfigError("binning.duration", f"{self.duration} s / {self.n_steps} frames is not a whole number "
                                                  "of microseconds, which tonic's time windows are here",
                              remedy="choose n_steps and duration so that each frame is a whole number of us")
        for name in ("n_steps", "pool", "n_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"binning.{name}", f"must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if isinstance(self.duration, bool) or not isinstance(self.duration, (int, float, np.floating)) \
                or not math.isfinite(self.duration) or self.duration <= 0:
            raise ConfigError("binning.duration", f"must be a positive number of seconds, got {self.duration!r}")
        object.__setattr__(self, "duration", float(self.duration))
        if not isinstance(self.binary, (bool, np.bool_)):
            raise ConfigError("binning.binary", f"must be true or false, got {self.binary!r}")
        object.__setattr__(self, "binary", bool(self.binary))
        if self.n_channels % self.pool:
            divisors = [str(d) for d in range(1, self.n_channels + 1) if self.n_channels % d == 0]
            raise ConfigError("binning.pool", f"{self.pool} does not divide n_channels = {self.n_channels}",
                              valid=divisors if len(divisors) <= 30 else None,
                              remedy="choose a pool size that divides the channel count (700: 1, 2, 4, 5, 7, "
                                     "10, 14, 20, 25, 28, 35, 50, 70, ...)")

    @property
    def n_features(self) -> int:
        """Features per frame: ``n_channels // pool``."""
        return self.n_channels // self.pool

    @property
    def dt(self) -> float:
        """Seconds per frame: ``duration / n_steps``."""
        return self.duration / self.n_steps

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and reports); :meth:`from_dict` reads it back. The
        convention is written only when it is not the default (files written before it existed
        read back the same)."""
        d = dataclasses.asdict(self)
        if d["convention"] == "spikedeploy":
            del d["convention"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BinningConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        if not isinstance(d, Mapping):
            raise ConfigError("binning", f"expected a mapping, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError("binning", f"unknown key(s) {', '.join(map(str, unknown))}", valid=known)
        return cls(**dict(d))

    def replace(self, **changes: Any) -> "BinningConfig":
        """A copy with some fields changed (validated like the constructor)."""
        return self.from_dict({**self.to_dict(), **changes})

    def edges(self) -> np.ndarray:
        """The ``n_steps + 1`` frame edges in seconds, as float32 (the comparison precision).
        (``hr-gpn-snn``: frame ``k`` ends at edge ``k``, the first ``n_steps`` of them.)"""
        return (np.arange(self.n_steps + 1, dtype=np.float64) * (self.duration / self.n_steps)).astype(np.float32)


#: Binning conventions (module docstring).
CONVENTIONS = ("spikedeploy", "tonic", "hr-gpn-snn")


def _flat_cells(times: np.ndarray, units: np.ndarray, cfg: BinningConfig, edges: np.ndarray,
                frame_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell ``frame * n_features + feature`` of each kept spike, and the spikes per frame.

    ``times`` must be sorted ascending and >= 0 (float32). Frame ``k`` holds the spikes
    ``idx[k]:idx[k + 1]`` with ``idx = searchsorted(times, edges)``, i.e. exactly those
    with ``edges[k] <= t < edges[k + 1]`` compared in float32; spikes from ``idx[-1]`` on
    are at or after ``duration`` and dropped.
    """
    if cfg.convention == "hr-gpn-snn":
        return _flat_cells_hr(times, units, cfg, edges, frame_base)
    if cfg.convention == "tonic":
        window = round(cfg.duration * 1e6 / cfg.n_steps)
        micros = (times.astype(np.float64) * 1e6).astype(np.int64)
        idx = np.searchsorted(micros, np.arange(cfg.n_steps + 1, dtype=np.int64) * window, side="left")
    else:
        idx = np.searchsorted(times, edges, side="left")
    per_frame = np.diff(idx)
    flat = np.repeat(frame_base, per_frame)
    kept = units[: idx[-1]]
    flat += kept if cfg.pool == 1 else kept // cfg.pool
    return flat, per_frame


def _flat_cells_hr(times: np.ndarray, units: np.ndarray, cfg: BinningConfig, edges: np.ndarray,
                   frame_base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_flat_cells` for the ``hr-gpn-snn`` convention: frame ``k`` holds the spikes with
    ``edges[k - 1] < t <= edges[k]`` (frame 0: ``t <= 0``), channel ``n_channels - unit``, unit 0
    dropped."""
    idx = np.concatenate([[0], np.searchsorted(times, edges[: cfg.n_steps], side="right")])
    flat = np.repeat(frame_base, np.diff(idx))
    kept = units[: idx[-1]].astype(np.int64)
    channel = (cfg.n_channels - kept) if cfg.pool == 1 else (cfg.n_channels - kept) // cfg.pool
    keep = kept > 0
    flat = (flat + channel)[keep]
    per_frame = np.bincount(np.repeat(np.arange(cfg.n_steps), np.diff(idx))[keep], minlength=cfg.n_steps)
    return flat, per_frame


def _frame_base(cfg: BinningConfig) -> np.ndarray:
    return np.arange(cfg.n_steps, dtype=np.int64) * cfg.n_features


def _check_events(times: np.ndarray, units: np.ndarray, n_channels: int, where: str | Path) -> None:
    if times.shape != units.shape or times.ndim != 1:
        raise DataFormatError(where, f"times and units differ in shape ({times.shape} vs {units.shape})",
                              field="spikes", remedy="give one unit per spike time")
    if not (np.issubdtype(units.dtype, np.integer) or units.size == 0):
        raise DataFormatError(where, f"units must be integers, got dtype {units.dtype}", field=fmt.UNITS,
                              remedy="pass channel numbers as an integer array")
    if times.size:
        if not np.all(np.isfinite(times)) or times.min() < 0:
            raise DataFormatError(where, "spike times must be finite and >= 0", field=fmt.TIMES,
                                  remedy="times are seconds from the start of the sample")
        if units.min() < 0 or units.max() >= n_channels:
            raise DataFormatError(where, f"units must lie in 0..{n_channels - 1}, found "
                                         f"{int(units.min())}..{int(units.max())}", field=fmt.UNITS,
                                  remedy="set n_channels to the data's channel count")


def bin_spikes(times: np.ndarray, units: np.ndarray, cfg: BinningConfig = BinningConfig()) -> np.ndarray:
    """Bin one sample's spikes into float32 frames of shape ``[cfg.n_steps, cfg.n_features]``.

    ``frames[k, j]`` counts the spikes with ``edges[k] <= t < edges[k + 1]`` on channels
    ``j*pool .. j*pool + pool - 1``; with ``cfg.binary`` the counts are clipped to 1
    (after pooling). Times need not be sorted here. Raises :class:`DataFormatError`
    for negative/non-finite times or units outside ``0..cfg.n_channels - 1``.
    """
    times = np.asarray(times)
    units = np.asarray(units)
    _check_events(times, units, cfg.n_channels, "<spike arrays>")
    times = times.astype(np.float32, copy=False)
    if units.size == 0 or units.dtype == np.uint64:
        units = units.astype(np.int64)
    if times.size > 1 and np.any(times[1:] < times[:-1]):
        order = np.argsort(times, kind="stable")
        times, units = times[order], units[order]
    counts = _bin_one(times, units, cfg, cfg.edges(), _frame_base(cfg))
    if cfg.binary:
        np.minimum(counts, 1, out=counts)
    return counts.reshape(cfg.n_steps, cfg.n_features).astype(np.float32)


def _bin_one(times: np.ndarray, units: np.ndarray, cfg: BinningConfig, edges: np.ndarray,
             frame_base: np.ndarray) -> np.ndarray:
    """Flat int64 counts ``[n_steps * n_features]`` of one sample with sorted times."""
    flat, _ = _flat_cells(times, units, cfg, edges, frame_base)
    return np.bincount(flat, minlength=cfg.n_steps * cfg.n_features)


# --------------------------------------------------------------------------- files

@dataclass
class SpikeSet:
    """The contents of one SHD/SSC-format file, validated.

    ``times[i]`` (float32 seconds, ascending) and ``units[i]`` (uint16 channel) are views
    into the flat arrays ``all_times`` / ``all_units``; sample ``i`` occupies
    ``offsets[i]:offsets[i + 1]``.
    """

    path: Path
    all_times: np.ndarray
    all_units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray | None
    keys: tuple[str, ...]
    n_channels: int = fmt.N_CHANNELS
    meta_info: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.keys)

    @cached_property
    def times(self) -> list[np.ndarray]:
        """Per-sample spike times (views, built once)."""
        return np.split(self.all_times, self.offsets[1:-1])

    @cached_property
    def units(self) -> list[np.ndarray]:
        """Per-sample units (views, built once)."""
        return np.split(self.all_units, self.offsets[1:-1])

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(times, units)`` of sample ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.all_times[a:b], self.all_units[a:b]

    @property
    def n_spikes(self) -> np.ndarray:
        """Spikes per sample (int64 [N])."""
        return np.diff(self.offsets)


def _read(f, name: str, path: Path):
    try:
        return f[name][()]
    except KeyError:
        raise DataFormatError(path, "field is missing", field=name, remedy=_REMEDY_REGENERATE) from None
    except (OSError, RuntimeError, ValueError, TypeError) as err:
        raise DataFormatError(path, f"cannot be read ({err})", field=name, remedy=_REMEDY_REGENERATE) from None


def _flatten_vlen(f, name: str, path: Path, kinds: str, dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """The per-sample arrays of ``name`` as one flat array (cast to ``dtype``, else the
    file's own dtype) and the length of each; the element kind must be one of ``kinds``."""
    import h5py

    if name not in f:
        raise DataFormatError(path, "field is missing", field=name, remedy=_REMEDY_REGENERATE)
    ds = f[name]
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or h5py.check_vlen_dtype(ds.dtype) is None:
        raise DataFormatError(path, f"expected a 1-D dataset of variable-length arrays (one per sample), "
                                    f"got {'a group' if not isinstance(ds, h5py.Dataset) else f'shape {ds.shape}, dtype {ds.dtype}'}",
                              field=name, remedy=_REMEDY_REGENERATE)
    base = h5py.check_vlen_dtype(ds.dtype)
    if base.kind not in kinds:
        raise DataFormatError(path, f"elements are {base}, expected {'integers' if kinds == 'iu' else 'numbers'}",
                              field=name, remedy=_REMEDY_REGENERATE)
    raw = _read(f, name, path)
    lengths = np.fromiter((len(a) for a in raw), dtype=np.int64, count=len(raw))
    out = np.dtype(dtype) if dtype is not None else base
    flat = np.concatenate(list(raw), dtype=out, casting="same_kind") if len(raw) and lengths.sum() \
        else np.zeros(0, out)
    return flat, lengths


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def load_spikes(path: str | Path, *, n_channels: int | None = None) -> SpikeSet:
    """Read and validate an SHD/SSC-format file.

    ``n_channels``: the channel count the units must stay below; default the file's
    ``n_channels`` attribute if it has one, else 700. Every problem (missing file,
    not HDF5, missing field, lengths that disagree, units out of range, negative,
    non-finite or unsorted times, labels outside the keys) raises
    :class:`DataFormatError` naming the file, the field and the first bad sample.
    """
    path = Path(path)
    raw = _read_file(path)
    if n_channels is None:
        n_channels = int(raw["attrs"].get(fmt.N_CHANNELS_ATTR, fmt.N_CHANNELS))
    t_len, u_len = raw["t_len"], raw["u_len"]
    n = len(t_len)
    if n == 0:
        raise DataFormatError(path, "the file holds no samples", field=fmt.TIMES, remedy=_REMEDY_REGENERATE)
    if len(u_len) != n:
        raise DataFormatError(path, f"{len(u_len)} samples of units but {n} of times", field=fmt.UNITS,
                              remedy=_REMEDY_REGENERATE)
    if np.any(t_len != u_len):
        i = _first(t_len != u_len)
        raise DataFormatError(path, f"sample {i} has {t_len[i]} spike times but {u_len[i]} units",
                              field=fmt.UNITS, remedy=_REMEDY_REGENERATE)
    labels, speakers, keys = _sample_fields(path, n, raw["labels"], raw["speakers"], raw["keys"])
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(t_len, out=offsets[1:])
    times, units = raw["times"], raw["units"]
    _check_flat_events(path, times, units, offsets, n_channels)
    # compact storage (the range is checked): uint16 holds every SHD/SSC unit
    units = units.astype(np.uint16 if n_channels <= 1 << 16 else np.int64, copy=False)
    return SpikeSet(path=path, all_times=times, all_units=units, offsets=offsets, labels=labels,
                    speakers=speakers, keys=keys, n_channels=n_channels, meta_info=raw["meta"], attrs=raw["attrs"])


def _read_file(path: Path) -> dict[str, Any]:
    """Every field of the file, read as it is (flat spike arrays with per-sample lengths)."""
    import h5py  # lazy: h5py costs start-up time and only the readers need it

    if not path.is_file():
        raise DataFormatError(path, "file not found" if not path.exists() else "not a file",
                              remedy="check the path; SHD/SSC files are e.g. shd_train.h5 (unzipped)")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataFormatError(path, f"not a readable HDF5 file ({err})",
                              remedy="SHD/SSC files are HDF5: unzip the downloaded .gz first, or download again "
                                     "if the file is truncated") from None
    with f:
        times, t_len = _flatten_vlen(f, fmt.TIMES, path, "fiu", np.float32)
        units, u_len = _flatten_vlen(f, fmt.UNITS, path, "iu")
        meta: dict[str, np.ndarray] = {}
        if "extra/meta_info" in f and isinstance(f["extra/meta_info"], h5py.Group):
            for name, obj in f["extra/meta_info"].items():
                if isinstance(obj, h5py.Dataset):
                    meta[name] = np.asarray(_read(f, f"extra/meta_info/{name}", path))
        return {"times": times, "t_len": t_len, "units": units, "u_len": u_len,
                "labels": np.asarray(_read(f, fmt.LABELS, path)),
                "speakers": np.asarray(_read(f, fmt.SPEAKER, path)) if fmt.SPEAKER in f else None,
                "keys": _read(f, fmt.KEYS, path) if fmt.KEYS in f else None, "meta": meta,
                "attrs": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}}


def _sample_fields(path: Path, n: int, labels_raw: np.ndarray, speakers_raw: np.ndarray | None,
                   keys_raw: Any) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """``(labels, speakers, keys)`` checked: one integer label per sample, within the keys."""
    if labels_raw.ndim != 1 or labels_raw.shape[0] != n:
        raise DataFormatError(path, f"expected {n} labels (one per sample), got shape {labels_raw.shape}",
                              field=fmt.LABELS, remedy=_REMEDY_REGENERATE)
    if not np.issubdtype(labels_raw.dtype, np.integer):
        raise DataFormatError(path, f"labels must be integers, got dtype {labels_raw.dtype}", field=fmt.LABELS,
                              remedy=_REMEDY_REGENERATE)
    labels = labels_raw.astype(np.int64)
    if labels.min() < 0:
        i = _first(labels < 0)
        raise DataFormatError(path, f"sample {i} has negative label {labels[i]}", field=fmt.LABELS,
                              remedy=_REMEDY_REGENERATE)
    speakers = None
    if speakers_raw is not None:
        if speakers_raw.ndim != 1 or speakers_raw.shape[0] != n:
            raise DataFormatError(path, f"expected {n} speaker ids (one per sample), got shape {speakers_raw.shape}",
                                  field=fmt.SPEAKER, remedy=_REMEDY_REGENERATE)
        speakers = speakers_raw.astype(np.int64)
    if keys_raw is None:
        return labels, speakers, tuple(str(c) for c in range(int(labels.max()) + 1))
    keys_arr = np.atleast_1d(np.asarray(keys_raw))
    keys = tuple(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in keys_arr)
    if labels.max() >= len(keys):
        i = _first(labels >= len(keys))
        raise DataFormatError(path, f"sample {i} has label {labels[i]} but there are only {len(keys)} keys",
                              field=fmt.LABELS, remedy=_REMEDY_REGENERATE)
    return labels, speakers, keys


def _check_flat_events(path: Path, times: np.ndarray, units: np.ndarray, offsets: np.ndarray,
                       n_channels: int) -> None:
    """Finite, non-negative, per-sample sorted times and units within the channels, checked on
    the flat arrays (vectorised); the message names the first bad sample."""
    if not times.size:
        return
    sample_of = lambda k: int(np.searchsorted(offsets, k, side="right") - 1)  # noqa: E731
    bad = ~np.isfinite(times)
    if bad.any():
        k = _first(bad)
        raise DataFormatError(path, f"sample {sample_of(k)} has a non-finite spike time", field=fmt.TIMES,
                              remedy=_REMEDY_REGENERATE)
    if times.min() < 0:
        k = _first(times < 0)
        raise DataFormatError(path, f"sample {sample_of(k)} has a negative spike time ({times[k]:.6g} s)",
                              field=fmt.TIMES, remedy="spike times are seconds from the sample's start (>= 0)")
    down = times[1:] < times[:-1]
    starts = offsets[1:-1]
    down[starts[(starts > 0) & (starts < times.size)] - 1] = False  # a new sample may start lower
    if down.any():
        k = _first(down)
        raise DataFormatError(path, f"sample {sample_of(k)}: spike times are not sorted ascending "
                                    f"({times[k]:.6g} s before {times[k + 1]:.6g} s)", field=fmt.TIMES,
                              remedy="sort each sample's spikes by time (np.argsort on times, applied to "
                                     "times and units)")
    if units.min() < 0 or units.max() >= n_channels:
        k = _first((units < 0) | (units >= n_channels))
        raise DataFormatError(path, f"sample {sample_of(k)} has unit {units[k]}, outside 0..{n_channels - 1}",
                              field=fmt.UNITS, remedy=f"the file must have {n_channels} channels; pass "
                                                      "n_channels= if it declares another count")


# --------------------------------------------------------------------------- split

def stratified_split(labels: Sequence[int] | np.ndarray, val_fraction: float = 0.15,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into ``(train_idx, val_idx)``, class by class.

    Each class with ``n >= 2`` samples puts ``round(val_fraction * n)`` of them, but at
    least 1 and at most ``n - 1``, into validation (chosen by a permutation from
    ``numpy.random.default_rng(seed)``, classes visited in ascending order); a class
    with one sample stays in train. Both index arrays are sorted int64, disjoint, and
    together cover ``0..len(labels) - 1``. Deterministic for a seed.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ConfigError("labels", f"expected a 1-D array, got shape {labels.shape}")
    if isinstance(val_fraction, bool) or not (0.0 < float(val_fraction) < 1.0):
        raise ConfigError("val_fraction", f"must lie strictly between 0 and 1, got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    val: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            continue
        k = min(max(int(round(val_fraction * idx.size)), 1), idx.size - 1)
        val.append(rng.permutation(idx)[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    mask = np.ones(labels.size, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx.astype(np.int64)


# --------------------------------------------------------------------------- dataset

def _prebin(spikes: SpikeSet, rows: np.ndarray, cfg: BinningConfig, progress: bool) -> np.ndarray:
    """Bin the samples ``rows`` of ``spikes`` into a compact integer array [len(rows), T, F].

    uint8 unless some frame holds more than 255 spikes in one cell, then uint16/uint32:
    counts never wrap. One ``bincount`` per sample (its counters stay in cache; this
    measured faster than one bincount over many samples).
    """
    from tqdm import tqdm

    T, F = cfg.n_steps, cfg.n_features
    edges, base = cfg.edges(), _frame_base(cfg)
    out = np.zeros((len(rows), T * F), dtype=np.uint8)
    limit = np.iinfo(out.dtype).max
    step = 256
    with tqdm(total=len(rows), desc="binning spikes", unit="sample", disable=not progress, leave=False) as bar:
        for c0 in range(0, len(rows), step):
            for pos in range(c0, min(c0 + step, len(rows))):
                r = rows[pos]
                a, b = spikes.offsets[r], spikes.offsets[r + 1]
                flat, per_frame = _flat_cells(spikes.all_times[a:b], spikes.all_units[a:b], cfg, edges, base)
                counts = np.bincount(flat, minlength=T * F)
                if cfg.binary:
                    np.minimum(counts, 1, out=counts)
                elif per_frame.size and per_frame.max() > limit:  # a cell may exceed the dtype: widen
                    peak = int(counts.max())
                    if peak > limit:
                        out = out.astype(np.uint16 if peak <= np.iinfo(np.uint16).max else np.uint32)
                        limit = np.iinfo(out.dtype).max
                out[pos] = counts
            bar.update(min(step, len(rows) - c0))
    return out.reshape(len(rows), T, F)


class ShdDataset:
    """A torch ``Dataset`` of binned SHD/SSC samples: ``ds[i] -> (x [n_steps, n_features] float32, label)``.

    Duck-typed (``__len__`` / ``__getitem__``), not a subclass of ``torch.utils.data.Dataset``,
    so that importing this module (e.g. for ``spikedeploy data info``) does not import torch;
    ``DataLoader``, ``Subset`` and ``random_split`` accept it as it is.

    ``path_or_spikeset``: a file (read with :func:`load_spikes`) or a loaded :class:`SpikeSet`.
    ``indices``: the samples of the file to use (default all), in that order.
    ``max_cache_bytes``: pre-bin everything into one integer array when it fits in
    this many bytes (default 1 GiB), else bin each sample when it is read.
    ``progress``: show a progress bar while pre-binning.
    """

    def __init__(self, path_or_spikeset: str | Path | SpikeSet, binning: BinningConfig = BinningConfig(),
                 indices: Sequence[int] | np.ndarray | None = None, *, max_cache_bytes: int = 1 << 30,
                 progress: bool = True):
        if not isinstance(binning, BinningConfig):
            raise ConfigError("binning", f"expected a BinningConfig, got {type(binning).__name__}",
                              remedy="use BinningConfig(...) or BinningConfig.from_dict(d)")
        spikes = path_or_spikeset if isinstance(path_or_spikeset, SpikeSet) else \
            load_spikes(path_or_spikeset, n_channels=binning.n_channels)
        if spikes.n_channels != binning.n_channels:
            raise ConfigError("binning.n_channels", f"is {binning.n_channels} but {spikes.path} has "
                                                    f"{spikes.n_channels} channels",
                              remedy=f"use BinningConfig(n_channels={spikes.n_channels}, ...)")
        n = len(spikes)
        rows = np.arange(n, dtype=np.int64) if indices is None else np.asarray(indices)
        if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
            raise ConfigError("indices", f"expected a 1-D array of sample indices, got shape {rows.shape}, "
                                         f"dtype {rows.dtype}")
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise ConfigError("indices", f"must lie in 0..{n - 1} for {spikes.path} ({n} samples)")
        rows = np.where(rows < 0, rows + n, rows)
        self.spikes = spikes
        self.binning = binning
        self._rows = rows                       # sample index in the file
        self._frames: np.ndarray | None = None  # pre-binned frames, shared between subsets
        self._frame_rows = np.arange(rows.size, dtype=np.int64)  # row of self._frames per item
        self._edges, self._base = binning.edges(), _frame_base(binning)
        if rows.size * binning.n_steps * binning.n_features <= max_cache_bytes:
            self._frames = _prebin(spikes, rows, binning, progress)

    # -- torch Dataset protocol (duck-typed: torch's Dataset base class adds nothing needed here)
    def __len__(self) -> int:
        return int(self._rows.size)

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.frames(i)), int(self.spikes.labels[self._rows[i]])

    def __getitems__(self, indices: Sequence[int]) -> list:
        """Batched fetch used by ``DataLoader`` (torch >= 2.1): one gather and one float32
        conversion for the whole batch instead of one small allocation per item."""
        import torch

        pos = np.asarray(indices, dtype=np.int64)
        if self._frames is None:
            return [self[int(i)] for i in pos]
        x = torch.from_numpy(self._frames[self._frame_rows[pos]].astype(np.float32))
        return list(zip(x.unbind(0), self.spikes.labels[self._rows[pos]].tolist()))

    def frames(self, i: int) -> np.ndarray:
        """The float32 frames [n_steps, n_features] of item ``i``."""
        if self._frames is not None:
            return self._frames[self._frame_rows[i]].astype(np.float32)
        t, u = self.spikes.sample(int(self._rows[i]))
        counts = _bin_one(t, u, self.binning, self._edges, self._base)
        if self.binning.binary:
            np.minimum(counts, 1, out=counts)
        return counts.reshape(self.binning.n_steps, self.binning.n_features).astype(np.float32)

    # -- metadata
    @property
    def indices(self) -> np.ndarray:
        """The sample index in the file of each item."""
        return self._rows.copy()

    @property
    def labels(self) -> np.ndarray:
        return self.spikes.labels[self._rows]

    @property
    def speakers(self) -> np.ndarray | None:
        return None if self.spikes.speakers is None else self.spikes.speakers[self._rows]

    @property
    def keys(self) -> tuple[str, ...]:
        return self.spikes.keys

    @property
    def n_classes(self) -> int:
        return self.spikes.n_classes

    @property
    def n_features(self) -> int:
        return self.binning.n_features

    @property
    def cached(self) -> bool:
        """Whether the frames were pre-binned on construction."""
        return self._frames is not None

    # -- bulk access
    def tensors(self):
        """``(X [N, n_steps, n_features] float32, y [N] int64)`` as torch tensors (for small sets)."""
        import torch

        if self._frames is not None:
            x = self._frames[self._frame_rows].astype(np.float32)
        else:
            x = np.stack([self.frames(i) for i in range(len(self))]) if len(self) else \
                np.zeros((0, self.binning.n_steps, self.binning.n_features), np.float32)
        return torch.from_numpy(x), torch.from_numpy(self.labels.astype(np.int64))

    def batches(self, batch_size: int = 128, *, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False):
        """Yield ``(X [B, n_steps, n_features] float32, y [B] int64)`` torch tensors.

        A fast path that needs no DataLoader: each batch is one gather and one
        conversion from the pre-binned array. ``shuffle`` permutes with
        ``numpy.random.default_rng(seed)`` (pass the epoch number as ``seed`` for a new
        order each epoch).
        """
        import torch

        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
        order = np.random.default_rng(seed).permutation(len(self)) if shuffle else np.arange(len(self))
        labels = self.labels
        for b0 in range(0, len(order), batch_size):
            sel = order[b0:b0 + batch_size]
            if drop_last and sel.size < batch_size:
                break
            if self._frames is not None:
                x = self._frames[self._frame_rows[sel]].astype(np.float32)
            else:
                x = np.stack([self.frames(int(i)) for i in sel])
            yield torch.from_numpy(x), torch.from_numpy(labels[sel].astype(np.int64))

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ShdDataset":
        """The items ``indices`` (positions in this dataset, not in the file); shares the frames."""
        pos = np.asarray(indices)
        if pos.ndim != 1 or (pos.size and not np.issubdtype(pos.dtype, np.integer)):
            raise ConfigError("indices", f"expected a 1-D array of positions, got shape {pos.shape}")
        pos = pos.astype(np.int64)
        if pos.size and (pos.min() < -len(self) or pos.max() >= len(self)):
            raise ConfigError("indices", f"must lie in 0..{len(self) - 1} (positions in this dataset)")
        pos = np.where(pos < 0, pos + len(self), pos)
        sub = object.__new__(ShdDataset)
        sub.spikes, sub.binning, sub._frames = self.spikes, self.binning, self._frames
        sub._edges, sub._base = self._edges, self._base
        sub._rows, sub._frame_rows = self._rows[pos], self._frame_rows[pos]
        return sub

    def split(self, val_fraction: float = 0.15, seed: int = 0) -> tuple["ShdDataset", "ShdDataset"]:
        """``(train, validation)`` subsets from :func:`stratified_split` of this dataset's labels."""
        tr, va = stratified_split(self.labels, val_fraction, seed)
        return self.subset(tr), self.subset(va)

    def __repr__(self) -> str:
        return (f"ShdDataset({self.spikes.path.name}, {len(self)} samples, {self.n_classes} classes, "
                f"{self.binning.n_steps} x {self.binning.n_features}, "
                f"{'pre-binned' if self.cached else 'binned on access'})")


# --------------------------------------------------------------------------- summary

@dataclass(frozen=True)
class DataSummary:
    """What :func:`summarize` found in a file; :meth:`format` makes it readable."""

    path: Path
    n_samples: int
    keys: tuple[str, ...]
    class_counts: tuple[int, ...]          # per class index, len == n_classes
    speaker_counts: tuple[tuple[int, int], ...] | None  # (speaker id, samples), ascending ids
    duration_mean: float                   # mean last spike time (s) over the samples that have spikes
    duration_max: float
    spikes_mean: float
    spikes_min: int
    spikes_max: int
    channels_used: int                     # distinct units that fire at least once
    unit_min: int | None
    unit_max: int | None
    n_channels: int
    empty_samples: int

    @property
    def n_classes(self) -> int:
        return len(self.keys)

    def format(self) -> str:
        lines = [f"file: {self.path}",
                 f"samples: {self.n_samples}",
                 f"classes: {self.n_classes}"]
        width = max((len(k) for k in self.keys), default=0)
        for c, (k, n) in enumerate(zip(self.keys, self.class_counts)):
            lines.append(f"  {c:>3} {k:<{width}} {n}")
        if self.speaker_counts is None:
            lines.append("speakers: (not in the file)")
        else:
            lines.append(f"speakers: {len(self.speaker_counts)}")
            lines.append("  " + ", ".join(f"{s}: {n}" for s, n in self.speaker_counts))
        lines.append(f"duration (last spike): mean {self.duration_mean:.3f} s, max {self.duration_max:.3f} s")
        lines.append(f"spikes per sample: mean {self.spikes_mean:.1f}, min {self.spikes_min}, max {self.spikes_max}"
                     + (f" ({self.empty_samples} samples without spikes)" if self.empty_samples else ""))
        used = (f"{self.channels_used} of {self.n_channels} (units {self.unit_min}..{self.unit_max})"
                if self.unit_min is not None else f"0 of {self.n_channels}")
        lines.append(f"channels used: {used}")
        return "\n".join(lines)


def summarize(path: str | Path, *, n_channels: int | None = None) -> DataSummary:
    """Read ``path`` (validated by :func:`load_spikes`) and count what is in it."""
    s = path if isinstance(path, SpikeSet) else load_spikes(path, n_channels=n_channels)
    counts = s.n_spikes
    nonempty = counts > 0
    last = s.all_times[s.offsets[1:][nonempty] - 1].astype(np.float64)  # samples with spikes only
    class_counts = np.bincount(s.labels, minlength=s.n_classes)
    spk = None
    if s.speakers is not None:
        spk = tuple(sorted((int(k), int(v)) for k, v in Counter(s.speakers.tolist()).items()))
    used = np.unique(s.all_units)
    return DataSummary(
        path=s.path, n_samples=len(s), keys=s.keys, class_counts=tuple(int(c) for c in class_counts),
        speaker_counts=spk, duration_mean=float(last.mean()) if last.size else 0.0,
        duration_max=float(last.max()) if last.size else 0.0,
        spikes_mean=float(counts.mean()), spikes_min=int(counts.min()), spikes_max=int(counts.max()),
        channels_used=int(used.size), unit_min=int(used[0]) if used.size else None,
        unit_max=int(used[-1]) if used.size else None, n_channels=s.n_channels,
        empty_samples=int((~nonempty).sum()))


def count_samples(path: str | Path) -> int:
    """How many samples ``path`` holds (the length of its labels), without reading the spikes;
    0 when the file cannot be read (the readers then say why)."""
    import h5py  # lazy: h5py costs start-up time and only the readers need it

    try:
        with h5py.File(path, "r") as f:
            return int(f[fmt.LABELS].shape[0])
    except (OSError, KeyError, TypeError, IndexError):
        return 0
