"""The synthetic spoken digits in Google Speech Commands' folder layout (``synth-digits --layout gsc``).

GSC cannot be downloaded here; this writes the same utterances the SHD-format build makes
(:mod:`.synth_digits`: the same plan, speakers, words, noise and seeds) as 16 kHz, 16-bit
wav files in GSC's layout, which :class:`~spikedeploy.data.gsc.GscDataset` reads as it reads
the real one::

    OUT/<word>/<speaker>_nohash_<n>.wav      one folder per word (the 20 SHD keys)
    OUT/_background_noise_/<kind>.wav        10 s of each noise kind the build mixes in
    OUT/validation_list.txt, OUT/testing_list.txt
    OUT/synth_gsc.json                        the manifest (config hash, files, speakers)

Splits, speaker-disjoint as GSC's: ``testing_list.txt`` is the SHD build's test split
(its speakers never train); ``validation_list.txt`` holds the training utterances of the
training speakers of a tenth of the training voice variants (drawn from the seed), held
out of training; the rest trains. ``<speaker>`` is 8 hex digits derived from the speaker id. A folder that
exists and is not such a build is never written into.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import DataFormatError
from .espeak import espeak_info
from .gsc import BACKGROUND_NOISE, TESTING_LIST, VALIDATION_LIST
from .shd_format import SHD_KEYS
from .synth_digits import (SynthConfig, babble_bank, check_voices, coloured_noise, run_jobs, speakers,
                           utterance_audio)
from .wav import write_wav

MANIFEST = "synth_gsc.json"
NOISE_SECONDS = 10.0


@dataclass(frozen=True)
class GscBuild:
    out_dir: Path
    cached: bool
    counts: dict[str, int]          # utterances per split: train, validation, testing


def speaker_name(speaker_id: int) -> str:
    return hashlib.sha256(f"spikedeploy-speaker-{speaker_id}".encode()).hexdigest()[:8]


#: Share of the training voice variants held out for validation (GSC's lists hold about 10 %).
VALIDATION_SHARE = 0.1


def validation_speakers(cfg: SynthConfig) -> set[int]:
    """The training speakers of about a tenth of the training voice variants (at least one;
    seeded), held out as the validation list."""
    train = [s for s in speakers(cfg) if s.split == "train"]
    variants = sorted({s.variant for s in train})
    k = max(1, round(VALIDATION_SHARE * len(variants)))
    picked = set(np.random.default_rng([cfg.seed, 11]).permutation(variants)[:k].tolist())
    return {s.id for s in train if s.variant in picked}


def _config_hash(cfg: SynthConfig, espeak_version: str) -> str:
    return hashlib.sha256(f"gsc:{cfg.config_hash(espeak_version)}".encode()).hexdigest()[:16]


def _reusable(out: Path, h: str) -> dict | None:
    """The folder's manifest when it is a complete build with hash ``h``, else None."""
    try:
        m = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return m if m.get("config_hash") == h and all((out / f).is_file() for f in m.get("files", [])) else None


def build_gsc_layout(cfg: SynthConfig | None = None, out_dir: str | Path = "gsc", workers: int | None = None,
                     progress: bool = True) -> GscBuild:
    """Write (or reuse) the build in ``out_dir`` (module docstring)."""
    cfg = cfg or SynthConfig.default()
    out = Path(out_dir)
    info = espeak_info()
    check_voices(cfg, info.variants, info.data_dir)
    h = _config_hash(cfg, info.version)
    if out.exists() and not out.is_dir():
        raise DataFormatError(out, "exists and is not a folder", remedy="choose another --out")
    done = _reusable(out, h)
    if done is not None:
        return GscBuild(out, True, done["counts"])
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise DataFormatError(out, "is not empty and holds no synthetic GSC build: nothing is written into it",
                              remedy="choose a new folder for --out")
    results = run_jobs(cfg, info.program, workers, progress, make=utterance_audio)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        counts, files = _write(tmp, cfg, results, info.program)
        manifest = {"generator": "spikedeploy synth-digits --layout gsc", "config_hash": h,
                    "espeak_version": info.version, "config": cfg.to_dict(), "counts": counts,
                    "validation_speakers": sorted(validation_speakers(cfg)), "files": files}
        with atomic_path(tmp / MANIFEST) as t:
            t.write_text(json.dumps(manifest, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)              # an older build of ours (checked above), replaced whole
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return GscBuild(out, False, counts)


def _write(root: Path, cfg: SynthConfig, results: dict[str, list[dict]], program: str) -> tuple[dict, list]:
    held_out = validation_speakers(cfg)
    seen: dict[tuple[int, int], int] = {}
    lists: dict[str, list[str]] = {"train": [], "validation": [], "testing": []}
    for split, rows in results.items():
        for r in rows:
            word = SHD_KEYS[r["label"]]
            n = seen.get((r["speaker"], r["label"]), 0)
            seen[(r["speaker"], r["label"])] = n + 1
            rel = f"{word}/{speaker_name(r['speaker'])}_nohash_{n}.wav"
            (root / word).mkdir(parents=True, exist_ok=True)
            write_wav(root / rel, r["pcm"].astype(np.float64) / 32767.0, cfg.sample_rate)
            which = "testing" if split == "test" else "validation" if r["speaker"] in held_out else "train"
            lists[which].append(rel)
    for name, key in ((VALIDATION_LIST, "validation"), (TESTING_LIST, "testing")):
        (root / name).write_text("".join(f"{rel}\n" for rel in lists[key]))
    noise = _noise_files(root, cfg, program)
    files = sorted(lists["train"] + lists["validation"] + lists["testing"]) + [VALIDATION_LIST, TESTING_LIST] + noise
    return {k: len(v) for k, v in lists.items()}, files


def _noise_files(root: Path, cfg: SynthConfig, program: str) -> list[str]:
    """10 s of each noise kind the build mixes in (babble from the training speakers' bank)."""
    folder = root / BACKGROUND_NOISE
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([cfg.seed, 12])
    n = int(NOISE_SECONDS * cfg.sample_rate)
    out = []
    for kind in cfg.noise_types:
        if kind == "babble":
            bank = babble_bank(cfg, "train", speakers(cfg), program)
            x = np.concatenate(bank) if bank else np.zeros(0)
            x = np.resize(x, n) if x.size else np.zeros(n)
        else:
            x = coloured_noise(rng, n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])
        x = 0.1 * x / max(float(np.abs(x).max()), 1e-12)
        write_wav(folder / f"{kind}.wav", x, cfg.sample_rate)
        out.append(f"{BACKGROUND_NOISE}/{kind}.wav")
    return out
