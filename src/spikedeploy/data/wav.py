"""Reading wav files the way every audio path of the project needs them.

Only 16-bit PCM is accepted (the format of GSC and of espeak-ng's output): other
encodings are refused with an error naming the file, rather than guessed at.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import DataFormatError

#: The lowest sample rate read as speech (telephone audio); below it the audio cannot hold
#: the speech band the cochlea's channels cover, and a header saying 1 Hz is a broken file.
MIN_RATE = 8000
_REMEDY_PCM = "convert it to 16-bit PCM, e.g. `sox in.wav -b 16 -e signed out.wav`"


def read_wav(path: str | Path, *, target_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM wav file as mono float32 samples in [-1, 1).

    Stereo (or more) channels are averaged. With ``target_rate`` the signal is
    resampled (polyphase, scipy) to that rate. Returns ``(samples, rate)``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "file not found", remedy="check the path")
    try:
        with wave.open(str(path), "rb") as w:
            width = w.getsampwidth()
            channels = w.getnchannels()
            rate = w.getframerate()
            promised = w.getnframes()
            frames = w.readframes(promised)
            comp = w.getcomptype()
    except (wave.Error, EOFError) as err:
        raise DataFormatError(path, f"not a PCM wav file ({err})", remedy=_REMEDY_PCM) from None
    if comp != "NONE" or width != 2:
        raise DataFormatError(path, f"sample format is {8 * width}-bit {comp}, not 16-bit PCM", remedy=_REMEDY_PCM)
    if rate < MIN_RATE:
        raise DataFormatError(path, f"sample rate {rate} Hz is below {MIN_RATE} Hz: not speech-rate audio "
                                    "(or a broken header)",
                              remedy=f"record or resample the audio at {MIN_RATE} Hz or more "
                                     "(e.g. `sox in.wav -r 16000 out.wav`)")
    held = len(frames) // (width * channels)
    if held < promised:
        raise DataFormatError(path, f"the header promises {promised} samples per channel, the file holds {held} "
                                    "(truncated?)", remedy="copy or record the file again")
    data = np.frombuffer(frames, dtype="<i2")
    if data.size == 0 or data.size < channels:
        raise DataFormatError(path, "the wav file holds no samples", remedy="record or synthesise audio into it")
    data = data[: (data.size // channels) * channels].reshape(-1, channels).astype(np.float32)
    samples = data.mean(axis=1) / 32768.0
    if target_rate is not None and target_rate != rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(target_rate), int(rate))
        samples = resample_poly(samples, target_rate // g, rate // g).astype(np.float32)
        rate = int(target_rate)
    return samples.astype(np.float32, copy=False), int(rate)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write mono float samples in [-1, 1] as 16-bit PCM (atomically)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path) as tmp:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(rate))
            w.writeframes(pcm.tobytes())
    return Path(path)
