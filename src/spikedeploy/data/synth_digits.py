"""The project's built-in data set: synthetic spoken digits in the SHD format.

Digits 0-9 in English and German (20 classes in SHD's label order, see
:data:`~spikedeploy.data.shd_format.SHD_KEYS`) spoken by ``espeak-ng`` over many
voices, passed through the :mod:`~spikedeploy.data.cochlea` and written as
``train.h5`` / ``test.h5`` in the SHD schema.

Speakers. A *speaker* is one espeak-ng voice variant (``voices/!v``: m1..m8,
f1..f5, klatt*, whisper, named voices, ...) in one pitch band (``-p`` range,
relative to the variant's own pitch), with one English accent (``en``,
``en-us``, ``en-gb-scotland``, ...) and one German voice (``de``); the speaker
says both languages' digits. The splits are disjoint by *variant*: a variant
(with all its pitch bands) is either a test voice or a training voice, so no
test speaker (nor a pitch-shifted copy of one) is heard in training, not even in
the babble noise. ``extra/speaker`` holds the speaker ids and
``extra/meta_info/description`` (indexed by speaker id) says who each one is.

Each utterance draws, from its own seed (``seed``, split, index; so the result
does not depend on the number of workers): its speaker and word (classes and
speakers balanced), a speed (words per minute), a pitch within the speaker's
band, a level (dB re full scale, rms of the active speech), an onset anywhere in
the ``duration`` window, and, with ``noise``, a background (white, pink, brown
noise, or babble of the same split's voices saying non-digit phrases) at a random
SNR. Per-sample values are stored under ``extra/`` (speed, pitch, level_db,
snr_db, onset, noise, word).

Caching. The folder holds ``manifest.json`` with the hash of the configuration
(including the cochlea's and the espeak-ng version); a build with the same hash is
reused instantly, another one rebuilds, ``force`` always rebuilds. The manifest is
removed before and written after the data files, each written atomically, so a
folder whose manifest matches is always complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from ..atomic import atomic_path
from ..errors import ConfigError, DataFormatError, MissingDependencyError, SpikedeployError
from ..paths import default_data_dir
from .cochlea import CochleaConfig, get_cochlea
from .espeak import espeak_info, speak
from .shd_format import SHD_KEYS, write_shd

GENERATOR = "spikedeploy.data.synth_digits"
GENERATOR_VERSION = 2          # bump when the generator's output changes for the same config
MANIFEST = "manifest.json"
TRAIN_FILE = "train.h5"
TEST_FILE = "test.h5"

#: What espeak-ng is asked to say for each label (SHD_KEYS order).
SPOKEN_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
#: Babble phrases: no digit in them, nor a word that sounds like one ("for", "ein", ...).
BABBLE_EN = ("the garden is green", "a yellow paper boat", "open the window please",
             "music on the radio", "the river runs past the old house", "apples and pears",
             "blue summer sky", "a table by the wall", "she reads a long book", "the cat sleeps")
BABBLE_DE = ("der Himmel ist blau", "das Wasser ist kalt", "die Katze schläft", "guten Morgen",
             "der Hund läuft schnell", "rote Blumen im Garten", "das Fenster ist offen",
             "im Wald ist es still", "wir trinken Kaffee", "die Straße ist lang")

#: Voice variants of the default data set (all in espeak-ng 1.51's voices/!v); robots left out.
DEFAULT_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "croak", "whisper", "whisperf",
    "Alex", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael", "Mike", "Storm",
    "adam", "anika", "aunty", "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward",
    "grandma", "grandpa", "gustave", "iven", "john", "linda", "marcelo", "max", "michel", "miguel",
    "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph",
    "travis", "victor", "zac",
)
DEFAULT_ENGLISH = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
                   "en-gb-x-gbcwmd", "en-us-nyc")
NOISE_TYPES = ("white", "pink", "brown", "babble")


# --------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class SynthConfig:
    """How the synthetic digits are made; its hash names a build."""

    n_train: int = 2400
    n_test: int = 600
    seed: int = 0
    noise: bool = True
    duration: float = 1.0                                   #: seconds per sample
    sample_rate: int = 16000                                #: audio rate fed to the cochlea
    variants: tuple[str, ...] = DEFAULT_VARIANTS
    english_voices: tuple[str, ...] = DEFAULT_ENGLISH
    german_voices: tuple[str, ...] = ("de",)
    pitch_bands: tuple[tuple[int, int], ...] = ((10, 37), (37, 64), (64, 91))  #: espeak -p ranges
    speed_range: tuple[int, int] = (120, 230)               #: words per minute
    level_db_range: tuple[float, float] = (-32.0, -18.0)    #: rms of the speech, dB re full scale
    snr_db_range: tuple[float, float] = (0.0, 20.0)
    noise_types: tuple[str, ...] = NOISE_TYPES
    test_voice_fraction: float = 0.2                        #: share of variants kept for the test split
    cochlea: CochleaConfig = field(default_factory=CochleaConfig)

    def __post_init__(self) -> None:
        tup = lambda v: tuple(v)  # noqa: E731  (lists from JSON/TOML -> tuples, hashable)
        for name in ("variants", "english_voices", "german_voices", "noise_types", "speed_range",
                     "level_db_range", "snr_db_range"):
            object.__setattr__(self, name, tup(getattr(self, name)))
        object.__setattr__(self, "pitch_bands", tuple(tuple(int(p) for p in b) for b in self.pitch_bands))
        if isinstance(self.cochlea, dict):
            object.__setattr__(self, "cochlea", CochleaConfig.from_dict(self.cochlea))
        if self.n_train < 1 or self.n_test < 1:
            raise ConfigError("synth.n_train/n_test", f"need at least one utterance per split, got "
                                                      f"{self.n_train}, {self.n_test}")
        if self.duration <= 0.1:
            raise ConfigError("synth.duration", f"{self.duration} s is too short (> 0.1 s)")
        if not self.variants or len(set(self.variants)) != len(self.variants):
            raise ConfigError("synth.variants", "need at least one variant, without repeats")
        if not 1 <= self.n_test_variants < len(self.variants):
            raise ConfigError("synth.test_voice_fraction",
                              f"{self.test_voice_fraction} of {len(self.variants)} variants leaves no voice "
                              "for one of the splits", remedy="give more variants or another fraction")
        if not self.english_voices or not self.german_voices:
            raise ConfigError("synth.english_voices/german_voices", "need at least one voice per language")
        if not self.pitch_bands or any(not 0 <= lo < hi <= 100 for lo, hi in self.pitch_bands):
            raise ConfigError("synth.pitch_bands", f"{self.pitch_bands}: need ranges within 0..100")
        lo, hi = self.speed_range
        if not 80 <= lo <= hi <= 450:
            raise ConfigError("synth.speed_range", f"{self.speed_range}: espeak-ng takes 80..450 words/min")
        if self.level_db_range[0] > self.level_db_range[1] or self.level_db_range[1] > -3:
            raise ConfigError("synth.level_db_range", f"{self.level_db_range}: need lo <= hi <= -3 dB")
        if self.snr_db_range[0] > self.snr_db_range[1]:
            raise ConfigError("synth.snr_db_range", f"{self.snr_db_range}: need lo <= hi")
        bad = [t for t in self.noise_types if t not in NOISE_TYPES]
        if bad or not self.noise_types:
            raise ConfigError("synth.noise_types", f"unknown or empty: {bad}", valid=NOISE_TYPES)
        if self.cochlea.sample_rate != self.sample_rate:
            raise ConfigError("synth.sample_rate", f"{self.sample_rate} Hz differs from the cochlea's "
                                                   f"{self.cochlea.sample_rate} Hz")

    @classmethod
    def default(cls) -> "SynthConfig":
        """The built-in default data set (2400 train / 600 test utterances)."""
        return cls()

    def replace(self, **changes: Any) -> "SynthConfig":
        return dataclasses.replace(self, **changes)

    @property
    def n_test_variants(self) -> int:
        return max(1, int(round(self.test_voice_fraction * len(self.variants))))

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["cochlea"] = self.cochlea.to_dict()
        return json.loads(json.dumps(d))  # tuples -> lists

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SynthConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError("synth", f"unknown field(s) {unknown}", valid=sorted(names))
        return cls(**d)

    def config_hash(self, espeak_version: str) -> str:
        """SHA-256 (hex, 16 chars) of everything that decides the files' content."""
        blob = json.dumps({"generator": GENERATOR, "version": GENERATOR_VERSION, "espeak": espeak_version,
                           "config": self.to_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- speakers and plan

class Speaker(NamedTuple):
    id: int
    variant: str
    pitch_band: tuple[int, int]
    english_voice: str
    german_voice: str
    split: str                  # "train" or "test"

    @property
    def description(self) -> str:
        return (f"variant {self.variant}, pitch {self.pitch_band[0]}-{self.pitch_band[1]}, "
                f"English {self.english_voice}, German {self.german_voice} ({self.split})")


def speakers(cfg: SynthConfig) -> list[Speaker]:
    """Every speaker of a build, id = variant index * n_bands + band index."""
    rng = np.random.default_rng([cfg.seed, 7])
    order = rng.permutation(len(cfg.variants))
    test_variants = set(order[: cfg.n_test_variants].tolist())
    out = []
    nb = len(cfg.pitch_bands)
    for vi, variant in enumerate(cfg.variants):
        for bi, band in enumerate(cfg.pitch_bands):
            out.append(Speaker(id=vi * nb + bi, variant=variant, pitch_band=band,
                               english_voice=cfg.english_voices[int(rng.integers(len(cfg.english_voices)))],
                               german_voice=cfg.german_voices[int(rng.integers(len(cfg.german_voices)))],
                               split="test" if vi in test_variants else "train"))
    return out


class Job(NamedTuple):
    split: str
    index: int
    label: int
    speaker: Speaker


_SPLIT_CODE = {"train": 1, "test": 2}


def plan(cfg: SynthConfig) -> dict[str, list[Job]]:
    """Which label and speaker each utterance of each split gets (balanced, shuffled)."""
    table = speakers(cfg)
    jobs: dict[str, list[Job]] = {}
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        pool = [s for s in table if s.split == split]
        rng = np.random.default_rng([cfg.seed, _SPLIT_CODE[split], 0])
        labels = rng.permutation(np.arange(n) % len(SHD_KEYS))
        who = rng.permutation(np.arange(n) % max(len(pool), 1))
        jobs[split] = [Job(split, i, int(labels[i]), pool[int(who[i])]) for i in range(n)] if n else []
    return jobs


# --------------------------------------------------------------------------- audio

def _trim(x: np.ndarray, rate: int, floor_db: float = -45.0) -> np.ndarray:
    """Cut leading and trailing silence (5 ms frames more than ``floor_db`` below the loudest)."""
    hop = max(int(rate * 0.005), 1)
    n = x.size // hop
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    if rms.max() <= 0:
        return x[:0]
    on = np.nonzero(rms >= rms.max() * 10 ** (floor_db / 20))[0]
    return x[on[0] * hop: (on[-1] + 1) * hop]


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x.astype(np.float64)
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(x.astype(np.float64), target // g, rate // g)


def coloured_noise(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Noise with power spectral density ~ 1/f**exponent (0 white, 1 pink, 2 brown), rms 1."""
    if exponent == 0:
        x = rng.standard_normal(n)
    else:
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec /= f ** (exponent / 2)
        spec[0] = 0.0
        x = np.fft.irfft(spec, n=n)
    return x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)


def _babble(rng: np.random.Generator, n: int, bank: list[np.ndarray]) -> np.ndarray:
    """Two to four phrases of the bank, at random offsets and gains, summed; rms 1."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(2, 5))):
        clip = bank[int(rng.integers(len(bank)))]
        start = int(rng.integers(-clip.size // 2, n))           # may start before the window
        a, b = max(start, 0), min(start + clip.size, n)
        if b > a:
            out[a:b] += clip[a - start: b - start] * 10 ** (rng.uniform(-4, 4) / 20)
    rms = float(np.sqrt(np.mean(out ** 2)))
    return out / rms if rms > 0 else coloured_noise(rng, n, 1.0)


# --------------------------------------------------------------------------- workers

_STATE: dict[str, Any] = {}


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread (threadpoolctl, when installed; else a no-op).

    Matrix products can round differently with another thread count, so every
    utterance is encoded with one BLAS thread, in workers and inline alike: the
    files are then identical whatever the number of workers.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional package
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _init_worker(cfg: SynthConfig, banks: dict[str, list[np.ndarray]], program: str) -> None:
    _STATE["limits"] = _one_blas_thread()      # kept for the worker's lifetime
    _STATE.update(cfg=cfg, banks=banks, program=program)


def _speak_16k(program: str, cfg: SynthConfig, text: str, voice: str, variant: str, speed: int,
               pitch: int) -> np.ndarray:
    x, rate = speak(text, voice=voice, variant=variant, speed=speed, pitch=pitch, program=program)
    x = _trim(x, rate)
    if x.size == 0:
        raise SpikedeployError(f"espeak-ng made only silence for {text!r} with {voice}+{variant}")
    return _resample(x, rate, cfg.sample_rate)


def _audio(job: Job) -> tuple[np.ndarray, dict[str, Any]]:
    """One utterance's audio at ``cfg.sample_rate`` (speak, place, add noise) and what was drawn;
    the random numbers left in the generator seed the cochlea (``meta["rng"]``)."""
    cfg: SynthConfig = _STATE["cfg"]
    rng = np.random.default_rng([cfg.seed, _SPLIT_CODE[job.split], 1, job.index])
    sp = job.speaker
    english = job.label < 10
    speed = int(rng.integers(cfg.speed_range[0], cfg.speed_range[1] + 1))
    pitch = int(rng.integers(sp.pitch_band[0], sp.pitch_band[1]))
    level = float(rng.uniform(*cfg.level_db_range))
    voice = sp.english_voice if english else sp.german_voice
    x = _speak_16k(_STATE["program"], cfg, SPOKEN_WORDS[job.label], voice, sp.variant, speed, pitch)
    n = int(round(cfg.duration * cfg.sample_rate))
    if x.size > n:                         # too slow for the window: keep the start, fade out
        x = x[:n].copy()
        fade = min(n, int(0.01 * cfg.sample_rate))
        x[-fade:] *= np.linspace(1.0, 0.0, fade)
    x *= 10 ** (level / 20) / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)
    onset = int(rng.integers(0, n - x.size + 1))
    sig = np.zeros(n)
    sig[onset:onset + x.size] = x
    kind, snr = "none", float("nan")
    if cfg.noise:
        kind = cfg.noise_types[int(rng.integers(len(cfg.noise_types)))]
        snr = float(rng.uniform(*cfg.snr_db_range))
        if kind == "babble":
            noise = _babble(rng, n, _STATE["banks"][job.split])
        else:
            noise = coloured_noise(rng, n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
        sig += noise * 10 ** ((level - snr) / 20)
    np.clip(sig, -1.0, 1.0, out=sig)
    return sig, dict(label=job.label, speaker=sp.id, speed=speed, pitch=pitch, level_db=level, snr_db=snr,
                     onset=onset / cfg.sample_rate, noise=kind, length=x.size / cfg.sample_rate, rng=rng)


def _utterance(job: Job) -> dict[str, Any]:
    """Make one sample (runs in a worker): its audio, encoded by the cochlea."""
    try:
        cfg: SynthConfig = _STATE["cfg"]
        sig, meta = _audio(job)
        rng = meta.pop("rng")
        times, units = get_cochlea(cfg.cochlea).encode(sig, cfg.sample_rate, seed=int(rng.integers(2 ** 31)))
        return dict(times=times.astype(np.float32), units=units, **meta)
    except SpikedeployError as err:            # project errors do not all survive pickling
        return dict(error=f"{type(err).__name__}: {err}")


def utterance_audio(job: Job) -> dict[str, Any]:
    """One sample's audio as 16-bit PCM (runs in a worker; ``synth-digits --layout gsc``)."""
    try:
        sig, meta = _audio(job)
        meta.pop("rng")
        return dict(pcm=np.clip(np.round(sig * 32767.0), -32768, 32767).astype("<i2"), **meta)
    except SpikedeployError as err:
        return dict(error=f"{type(err).__name__}: {err}")


def babble_bank(cfg: SynthConfig, split: str, table: list[Speaker], program: str,
                 size: int = 8) -> list[np.ndarray]:
    pool = [s for s in table if s.split == split]
    if not pool or not cfg.noise or "babble" not in cfg.noise_types:
        return []
    rng = np.random.default_rng([cfg.seed, _SPLIT_CODE[split], 2])
    bank = []
    for i in range(size):
        sp = pool[int(rng.integers(len(pool)))]
        german = i % 2 == 1
        phrases = BABBLE_DE if german else BABBLE_EN
        x = _speak_16k(program, cfg, phrases[int(rng.integers(len(phrases)))],
                       sp.german_voice if german else sp.english_voice, sp.variant,
                       int(rng.integers(cfg.speed_range[0], cfg.speed_range[1] + 1)),
                       int(rng.integers(sp.pitch_band[0], sp.pitch_band[1])))
        bank.append(x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12))
    return bank


# --------------------------------------------------------------------------- building

class BuildResult(NamedTuple):
    out_dir: Path
    train_path: Path
    test_path: Path
    cached: bool


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(out_dir) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_cached(out_dir: str | Path, config_hash: str) -> bool:
    """True when ``out_dir`` holds a complete build with this hash (files checked by SHA-256)."""
    out_dir = Path(out_dir)
    m = read_manifest(out_dir)
    if not m or m.get("config_hash") != config_hash:
        return False
    for name, info in m.get("files", {}).items():
        p = out_dir / name
        if not p.is_file() or p.stat().st_size != info.get("bytes") or _sha256(p) != info.get("sha256"):
            return False
    return set(m.get("files", {})) == {TRAIN_FILE, TEST_FILE}


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    """Serialise builds into the same folder (a lock file; no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(out_dir / ".build.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_voices(cfg: SynthConfig, installed: tuple[str, ...], data_dir: Path | None) -> None:
    if not installed:
        return  # cannot list them (unusual layout): espeak-ng will be asked directly
    missing = [v for v in cfg.variants if v not in installed]
    if missing:
        raise MissingDependencyError(
            f"espeak-ng voice variant(s) {missing} (not in {data_dir}/voices/!v)",
            "install the full espeak-ng-data package, or leave these variants out of SynthConfig.variants")


def build_dataset(cfg: SynthConfig | None = None, out_dir: str | Path | None = None, workers: int | None = None,
                  force: bool = False, progress: bool = True) -> BuildResult:
    """Build (or reuse) the synthetic digits in ``out_dir`` (default: the cache folder).

    Returns where the files are and whether a cached build was reused. Raises
    :class:`~spikedeploy.errors.MissingDependencyError` when espeak-ng (or a voice
    variant) is missing, before anything is written.
    """
    cfg = cfg or SynthConfig.default()
    out_dir = Path(out_dir) if out_dir is not None else default_data_dir()
    info = espeak_info()
    check_voices(cfg, info.variants, info.data_dir)
    h = cfg.config_hash(info.version)
    train_path, test_path = out_dir / TRAIN_FILE, out_dir / TEST_FILE
    if out_dir.exists() and not out_dir.is_dir():
        raise DataFormatError(out_dir, "exists and is not a folder", remedy="choose another --out")
    if not force and is_cached(out_dir, h):
        return BuildResult(out_dir, train_path, test_path, True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir):
        if not force and is_cached(out_dir, h):   # another process built it while we waited
            return BuildResult(out_dir, train_path, test_path, True)
        with contextlib.suppress(FileNotFoundError):
            (out_dir / MANIFEST).unlink()       # from here on the folder is "not built"
        t0 = time.perf_counter()
        results = run_jobs(cfg, info.program, workers, progress)
        table = speakers(cfg)
        files = {}
        for split, path in (("train", train_path), ("test", test_path)):
            _write_split(path, split, results[split], table, cfg, h, info.version)
            files[path.name] = {"samples": len(results[split]), "bytes": path.stat().st_size,
                                "sha256": _sha256(path)}
        manifest = {
            "generator": GENERATOR, "generator_version": GENERATOR_VERSION, "config_hash": h,
            "espeak_version": info.version, "config": cfg.to_dict(), "files": files,
            "speakers": {"train": sorted({r["speaker"] for r in results["train"]}),
                         "test": sorted({r["speaker"] for r in results["test"]})},
            "build_seconds": round(time.perf_counter() - t0, 2),
            "workers": _n_workers(workers),
        }

        with atomic_path(out_dir / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    return BuildResult(out_dir, train_path, test_path, False)


def _n_workers(workers: int | None) -> int:
    return max(1, int(workers) if workers else (os.cpu_count() or 1))


def run_jobs(cfg: SynthConfig, program: str, workers: int | None, progress: bool,
             make: Callable[[Job], dict[str, Any]] | None = None) -> dict[str, list[dict]]:
    """Every utterance of the plan, made by ``make`` (default: spikes through the cochlea) in
    ``workers`` processes; ``{"train": [...], "test": [...]}`` in plan order."""
    from tqdm import tqdm

    make = make or _utterance
    if make is _utterance:
        get_cochlea(cfg.cochlea)   # designed once here (each worker process designs its own, < 1 s)
    jobs = plan(cfg)
    table = speakers(cfg)
    banks = {split: babble_bank(cfg, split, table, program) for split in ("train", "test")}
    flat = jobs["train"] + jobs["test"]
    n_workers = min(_n_workers(workers), max(len(flat), 1))
    out: list[dict] = []
    bar = tqdm(total=len(flat), desc="synth-digits", unit="utt", disable=not progress)
    try:
        if n_workers == 1:
            saved = dict(_STATE)
            _STATE.update(cfg=cfg, banks=banks, program=program)
            try:
                with _one_blas_thread():
                    for job in flat:
                        out.append(_checked(make(job)))
                        bar.update()
            finally:
                _STATE.clear()
                _STATE.update(saved)
        else:
            import multiprocessing as mp

            # forkserver: workers forked from a fresh single-threaded server, not from this
            # process, whose other threads' locks (tqdm, OpenMP, Lava) a plain fork would copy held
            ctx = mp.get_context("forkserver") if "forkserver" in mp.get_all_start_methods() else mp.get_context()
            with ctx.Pool(n_workers, initializer=_init_worker, initargs=(cfg, banks, program)) as pool:
                for r in pool.imap(make, flat, chunksize=4):
                    out.append(_checked(r))
                    bar.update()
    finally:
        bar.close()
    return {"train": out[: len(jobs["train"])], "test": out[len(jobs["train"]):]}


def _checked(r: dict[str, Any]) -> dict[str, Any]:
    if "error" in r:
        raise SpikedeployError(f"making an utterance failed: {r['error']}")
    return r


def _write_split(path: Path, split: str, rows: list[dict], table: list[Speaker], cfg: SynthConfig,
                 config_hash: str, espeak_version: str) -> None:
    extra = {
        "speed": np.array([r["speed"] for r in rows], dtype=np.uint16),
        "pitch": np.array([r["pitch"] for r in rows], dtype=np.uint8),
        "level_db": np.array([r["level_db"] for r in rows], dtype=np.float32),
        "snr_db": np.array([r["snr_db"] for r in rows], dtype=np.float32),
        "onset": np.array([r["onset"] for r in rows], dtype=np.float32),
        "speech_length": np.array([r["length"] for r in rows], dtype=np.float32),
        "noise": np.array([r["noise"].encode() for r in rows], dtype="S8"),
        "word": np.array([SPOKEN_WORDS[r["label"]].encode() for r in rows]),
        # per speaker id (all speakers of the build, both splits), as SHD's meta_info
        "meta_info/description": np.array([s.description.encode() for s in table]),
        "meta_info/variant": np.array([s.variant.encode() for s in table]),
        "meta_info/split": np.array([s.split.encode() for s in table]),
    }
    attrs = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "split": split,
             "config_hash": config_hash, "espeak_version": espeak_version,
             "config": json.dumps(cfg.to_dict(), sort_keys=True)}
    write_shd(path, [r["times"] for r in rows], [r["units"] for r in rows], [r["label"] for r in rows],
              [r["speaker"] for r in rows], extra=extra, attrs=attrs)


def speaker_summary(out_dir: str | Path) -> str:
    """A few lines on the speakers of a build: how many per split, which voice variants,
    and whether the splits are disjoint (read back from the files, not assumed)."""
    import h5py

    out_dir = Path(out_dir)
    ids: dict[str, set[int]] = {}
    variants: dict[str, list[str]] = {}
    for split, name in (("train", TRAIN_FILE), ("test", TEST_FILE)):
        path = out_dir / name
        try:
            with h5py.File(path, "r") as f:
                spk = np.asarray(f["extra/speaker"][()], dtype=np.int64)
                var = [v.decode() for v in f["extra/meta_info/variant"][()]]
        except (OSError, KeyError) as err:
            raise DataFormatError(path, f"cannot read the speaker table ({err})",
                                  remedy="rebuild with `spikedeploy data synth-digits --force`") from None
        ids[split] = set(spk.tolist())
        variants[split] = sorted({var[i] for i in ids[split]})
    shared = ids["train"] & ids["test"]
    shared_var = set(variants["train"]) & set(variants["test"])
    lines = [f"speakers: {len(ids['train'])} in train ({len(variants['train'])} voice variants), "
             f"{len(ids['test'])} in test ({len(variants['test'])} voice variants: {', '.join(variants['test'])})",
             "splits are speaker-disjoint and voice-disjoint" if not shared and not shared_var else
             f"WARNING: {len(shared)} speaker ids and {len(shared_var)} variants occur in both splits"]
    return "\n".join(lines)
