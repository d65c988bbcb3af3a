"""Google Speech Commands (GSC) in its real folder layout -> s2net's log-Mel input.

Layout (Warden 2018; v0.01 and v0.02 alike)::

    ROOT/<word>/<speaker>_nohash_<n>.wav    16 kHz, 16-bit PCM, <= 1 s
    ROOT/_background_noise_/*.wav           long noise recordings (not a class)
    ROOT/validation_list.txt                relative paths, e.g. yes/0a7c2a8d_nohash_0.wav
    ROOT/testing_list.txt

The classes are the word folders (every sub-folder whose name does not start with
``_``), sorted; the training split is every wav of a word folder that is in neither
list. With ``words`` (the keyword-spotting set-up of Warden 2018 and s2net: ten words,
:data:`GSC12_WORDS`) the classes are those words in that order, then ``_unknown_`` (every
other word folder) and ``_silence_``: ``silence_fraction`` x the split's clips more, each
one second of a ``_background_noise_`` recording at a volume ``U(0, noise_max_volume)``,
drawn from a generator seeded by the split and the item (the same clips every time).

Features (:func:`log_mel_features`, s2net's input, Zimmer et al. 2019): the clip is
padded with zeros at the end or cropped to its first ``clip`` seconds; then 40 Mel
bands (Slaney scale and area normalisation, librosa's default), 30 ms Hann window
(zero-padded to a 512-point FFT), 10 ms hop, 20-4000 Hz, power spectrum,
``log(mel + 1e-6)``; with ``deltas`` the first and second time derivatives
(librosa's Savitzky-Golay ``delta``, width 9) are stacked as channels 1 and 2.
Frames are centred (librosa ``center=True``, zero padding), so 1 s gives
``1 + 16000 // 160 = 101`` frames. Output: float32 ``[3, 101, 40]`` =
(channel, time, Mel band). No normalisation is applied.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, DataFormatError
from ..hashing import file_sha256
from .wav import read_wav

BACKGROUND_NOISE = "_background_noise_"
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"
SPLITS = ("train", "validation", "testing")
#: The ten keywords of GSC's 12-class task (plus unknown and silence).
GSC12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN, SILENCE = "_unknown_", "_silence_"


@dataclass(frozen=True)
class GscConfig:
    """Feature extraction settings (defaults: s2net's GSC front end)."""

    sample_rate: int = 16000
    n_mels: int = 40
    win_ms: float = 30.0
    hop_ms: float = 10.0
    fmin: float = 20.0
    fmax: float = 4000.0
    deltas: bool = True
    clip: float = 1.0          # seconds; shorter clips are zero-padded, longer ones cropped
    n_fft: int = 512
    log_floor: float = 1e-6    # log(mel + log_floor)
    delta_width: int = 9

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_mels", "n_fft", "delta_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"gsc.{name}", f"must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("win_ms", "hop_ms", "fmax", "clip", "log_floor"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"gsc.{name}", f"must be a positive number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if isinstance(self.fmin, bool) or not isinstance(self.fmin, (int, float)) or not 0 <= self.fmin < self.fmax:
            raise ConfigError("gsc.fmin", f"must satisfy 0 <= fmin < fmax = {self.fmax}, got {self.fmin!r}")
        object.__setattr__(self, "fmin", float(self.fmin))
        if self.fmax > self.sample_rate / 2:
            raise ConfigError("gsc.fmax", f"{self.fmax} Hz is above the Nyquist frequency {self.sample_rate / 2} Hz")
        if not isinstance(self.deltas, (bool, np.bool_)):
            raise ConfigError("gsc.deltas", f"must be true or false, got {self.deltas!r}")
        object.__setattr__(self, "deltas", bool(self.deltas))
        if self.win_samples > self.n_fft:
            raise ConfigError("gsc.n_fft", f"{self.n_fft} is shorter than the window ({self.win_samples} samples)")
        if self.hop_samples < 1:
            raise ConfigError("gsc.hop_ms", "is shorter than one sample")
        if self.deltas and self.n_frames < self.delta_width:
            raise ConfigError("gsc.clip", f"{self.clip} s gives {self.n_frames} frames, fewer than the delta "
                                          f"width {self.delta_width}")

    @property
    def win_samples(self) -> int:
        return int(round(self.win_ms * self.sample_rate / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000))

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """Frames per clip (centred frames): ``1 + clip_samples // hop_samples``."""
        return 1 + self.clip_samples // self.hop_samples

    @property
    def n_channels(self) -> int:
        """3 with deltas (static, delta, delta-delta), else 1."""
        return 3 if self.deltas else 1

    @property
    def shape(self) -> tuple[int, int, int]:
        """Feature shape ``(n_channels, n_frames, n_mels)``."""
        return (self.n_channels, self.n_frames, self.n_mels)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "GscConfig":
        if not isinstance(d, Mapping):
            raise ConfigError("gsc", f"expected a mapping, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError("gsc", f"unknown key(s) {', '.join(map(str, unknown))}", valid=known)
        return cls(**dict(d))


def mel_band_edges(cfg: GscConfig = GscConfig()) -> np.ndarray:
    """``[n_mels, 3]`` (lower, centre, upper) frequency in Hz of each Mel filter."""
    import librosa

    f = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)
    return np.stack([f[:-2], f[1:-1], f[2:]], axis=1)


def fix_length(samples: np.ndarray, cfg: GscConfig = GscConfig()) -> np.ndarray:
    """Zero-pad at the end, or crop to the first ``cfg.clip`` seconds (float32)."""
    x = np.asarray(samples, dtype=np.float32)
    n = cfg.clip_samples
    if x.size >= n:
        return x[:n].copy()
    return np.concatenate([x, np.zeros(n - x.size, np.float32)])


def log_mel_features(samples: np.ndarray, cfg: GscConfig = GscConfig()) -> np.ndarray:
    """s2net's input for one clip at ``cfg.sample_rate``: float32 ``[C, n_frames, n_mels]``.

    The clip is first padded/cropped to ``cfg.clip`` seconds (:func:`fix_length`), so
    the shape is always ``cfg.shape``; C = 3 (log-Mel, delta, delta-delta) with deltas.
    """
    import librosa

    x = np.asarray(samples)
    if x.ndim != 1:
        raise ConfigError("samples", f"expected a mono 1-D signal, got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise ConfigError("samples", "the signal holds NaN or infinite values")
    x = fix_length(x, cfg)
    mel = librosa.feature.melspectrogram(
        y=x, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_samples, win_length=cfg.win_samples,
        window="hann", center=True, pad_mode="constant", power=2.0, n_mels=cfg.n_mels, fmin=cfg.fmin,
        fmax=cfg.fmax)
    logmel = np.log(mel + cfg.log_floor)                     # [n_mels, n_frames]
    channels = [logmel]
    if cfg.deltas:
        channels.append(librosa.feature.delta(logmel, width=cfg.delta_width, order=1, axis=-1))
        channels.append(librosa.feature.delta(logmel, width=cfg.delta_width, order=2, axis=-1))
    return np.stack(channels).transpose(0, 2, 1).astype(np.float32)  # [C, n_frames, n_mels]


def mix_background(samples: np.ndarray, noise: np.ndarray, rng: np.random.Generator,
                   max_volume: float = 0.1) -> np.ndarray:
    """``samples + g * noise[o : o + len(samples)]`` with ``g ~ U(0, max_volume)`` and a random
    offset ``o`` (the noise is tiled when it is shorter than the clip)."""
    x = np.asarray(samples, dtype=np.float32)
    nz = np.asarray(noise, dtype=np.float32)
    if nz.size == 0:
        return x.copy()
    if nz.size < x.size:
        nz = np.tile(nz, -(-x.size // nz.size))
    o = int(rng.integers(0, nz.size - x.size + 1))
    g = float(rng.uniform(0.0, max_volume))
    return (x + np.float32(g) * nz[o:o + x.size]).astype(np.float32)


def _label_map(root: Path, folders: list[str], chosen: list[str], words: tuple[str, ...], silence_fraction: float
               ) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(classes, files, labels): one class per word folder; or ``words`` + unknown + silence
    (the module docstring), silence items named ``_silence_/<k>``."""
    if not words:
        index = {c: i for i, c in enumerate(folders)}
        return tuple(folders), tuple(chosen), np.array([index[f.split("/", 1)[0]] for f in chosen], dtype=np.int64)
    missing = [w for w in words if w not in folders]
    if missing:
        raise DataFormatError(root, f"has no word folder for {', '.join(missing)}",
                              remedy=f"choose words among its folders: {', '.join(folders[:12])}...")
    if not 0.0 <= float(silence_fraction) <= 1.0:
        raise ConfigError("silence_fraction", f"must lie in [0, 1], got {silence_fraction!r}")
    index = {w: i for i, w in enumerate(words)}
    labels = [index.get(f.split("/", 1)[0], len(words)) for f in chosen]
    n_silence = round(float(silence_fraction) * len(chosen))
    files = tuple(chosen) + tuple(f"{SILENCE}/{k}" for k in range(n_silence))
    labels += [len(words) + 1] * n_silence
    return tuple(words) + (UNKNOWN, SILENCE), files, np.array(labels, dtype=np.int64)


def is_gsc_folder(path: str | Path) -> bool:
    """A folder holding GSC's ``testing_list.txt``."""
    return (Path(path) / TESTING_LIST).is_file()


def data_sha256(path: str | Path) -> str:
    """The digest that identifies a data set: a file's bytes, or a GSC folder's testing list (the
    clips a run reads from it)."""
    path = Path(path)
    return file_sha256(path / TESTING_LIST if is_gsc_folder(path) else path)


def _read_list(root: Path, name: str) -> list[str]:
    path = root / name
    if not path.is_file():
        raise DataFormatError(path, "list file not found",
                              remedy=f"a GSC folder has {VALIDATION_LIST} and {TESTING_LIST} at its top level; "
                                     "extract the complete speech_commands archive into this folder")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(path, f"cannot be read ({err})", remedy="extract the archive again") from None
    return [line.strip().replace("\\", "/") for line in text.splitlines() if line.strip()]


class GscDataset:
    """One split of a GSC folder: ``ds[i] -> (x float32 tensor [3, 101, 40], label)``.

    ``split``: ``"train"`` (every wav in neither list), ``"validation"`` or ``"testing"``.
    ``noise_prob``: on the train split only, the probability of adding a random
    segment of a ``_background_noise_`` recording at a volume drawn from
    ``U(0, noise_max_volume)``; random numbers come from torch's generator, so
    ``torch.manual_seed`` makes them reproducible and DataLoader workers differ.
    Duck-typed torch Dataset (see :class:`spikedeploy.data.shd.ShdDataset`).
    """

    def __init__(self, root: str | Path, split: str = "train", cfg: GscConfig = GscConfig(), *,
                 noise_prob: float = 0.0, noise_max_volume: float = 0.1, words: tuple[str, ...] = (),
                 silence_fraction: float = 0.1):
        root = Path(root)
        if split not in SPLITS:
            raise ConfigError("split", f"unknown split {split!r}", valid=SPLITS)
        if not isinstance(cfg, GscConfig):
            raise ConfigError("cfg", f"expected a GscConfig, got {type(cfg).__name__}")
        if not 0.0 <= float(noise_prob) <= 1.0:
            raise ConfigError("noise_prob", f"must lie in [0, 1], got {noise_prob!r}")
        if not root.is_dir():
            raise DataFormatError(root, "GSC folder not found" if not root.exists() else "not a folder",
                                  remedy="pass the folder that holds the word folders and the list files")
        val_list, test_list = _read_list(root, VALIDATION_LIST), _read_list(root, TESTING_LIST)
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")
                         and not p.name.startswith("."))
        if not classes:
            raise DataFormatError(root, "no word folders found",
                                  remedy="a GSC folder holds one folder of wav files per word (yes/, no/, ...)")
        files = {f"{c}/{p.name}" for c in classes for p in (root / c).glob("*.wav")}
        for name, entries in ((VALIDATION_LIST, val_list), (TESTING_LIST, test_list)):
            for lineno, rel in enumerate(entries, 1):
                if rel not in files:
                    raise DataFormatError(root / name, f"entry {rel!r} (line {lineno}) is not a wav file of a "
                                                       "word folder", remedy="the list and the folder come from "
                                                                            "different versions; extract the "
                                                                            "archive again")
        both = set(val_list) & set(test_list)
        if both:
            raise DataFormatError(root / TESTING_LIST, f"{len(both)} file(s) are also in {VALIDATION_LIST}, "
                                                       f"e.g. {sorted(both)[0]}",
                                  remedy="each file may be in at most one of the two lists")
        if split == "validation":
            chosen = sorted(set(val_list))
        elif split == "testing":
            chosen = sorted(set(test_list))
        else:
            chosen = sorted(files - set(val_list) - set(test_list))
        self.root = root
        self.split = split
        self.cfg = cfg
        self.noise_prob = float(noise_prob) if split == "train" else 0.0
        self.noise_max_volume = float(noise_max_volume)
        noise_dir = root / BACKGROUND_NOISE
        self.noise_files: tuple[Path, ...] = tuple(sorted(noise_dir.glob("*.wav"))) if noise_dir.is_dir() else ()
        if (self.noise_prob > 0 or words) and not self.noise_files:
            raise DataFormatError(noise_dir, "no background-noise wav files for noise mixing or silence clips",
                                  remedy="provide the _background_noise_ folder, or set noise_prob=0 and no words")
        self._noise: dict[Path, np.ndarray] = {}
        self.classes, self.files, self.labels = _label_map(root, classes, chosen, tuple(words), silence_fraction)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.files)

    def waveform(self, i: int) -> np.ndarray:
        """The clip of item ``i`` at ``cfg.sample_rate``, padded/cropped, without noise (a silence
        item: its background-noise second)."""
        if self.files[i].startswith(SILENCE + "/"):
            rng = np.random.default_rng((SPLITS.index(self.split), i))
            path = self.noise_files[int(rng.integers(len(self.noise_files)))]
            return mix_background(np.zeros(self.cfg.clip_samples, np.float32), self._noise_of(path), rng,
                                  self.noise_max_volume)
        samples, _ = read_wav(self.root / self.files[i], target_rate=self.cfg.sample_rate)
        return fix_length(samples, self.cfg)

    def _noise_of(self, path: Path) -> np.ndarray:
        if path not in self._noise:
            self._noise[path] = read_wav(path, target_rate=self.cfg.sample_rate)[0]
        return self._noise[path]

    def __getitem__(self, i: int):
        import torch

        x = self.waveform(i)
        if self.noise_prob > 0:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            if rng.random() < self.noise_prob:
                path = self.noise_files[int(rng.integers(len(self.noise_files)))]
                x = mix_background(x, self._noise_of(path), rng, self.noise_max_volume)
        return torch.from_numpy(log_mel_features(x, self.cfg)), int(self.labels[i])

    def __repr__(self) -> str:
        return f"GscDataset({self.root}, split={self.split!r}, {len(self)} clips, {self.n_classes} classes)"
