"""Reading wav files: what is refused, naming the file and the reason."""

import wave

import numpy as np
import pytest

from spikedeploy.data.wav import MIN_RATE, read_wav, write_wav
from spikedeploy.errors import DataFormatError


def _wav(path, rate, n):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.zeros(n, "<i2").tobytes())
    return path


def test_speech_rate_audio_reads_and_slower_rates_are_refused(tmp_path):
    x, rate = read_wav(write_wav(tmp_path / "ok.wav", 0.5 * np.ones(800), MIN_RATE))
    assert rate == MIN_RATE and x.shape == (800,) and abs(float(x[0]) - 0.5) < 1e-4
    with pytest.raises(DataFormatError, match="sample rate 1 Hz is below 8000 Hz") as err:
        read_wav(_wav(tmp_path / "1hz.wav", 1, 100))
    assert "resample" in err.value.remedy


def test_a_header_that_promises_more_samples_than_the_file_holds_is_named(tmp_path):
    path = _wav(tmp_path / "t.wav", 16000, 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10000])
    with pytest.raises(DataFormatError, match="promises 16000 samples per channel, the file holds 11000"):
        read_wav(path)
