"""Write the bad-input corpus: one file per case, each a way a real input goes wrong.

    python tests/bad_inputs/make_corpus.py [FOLDER]      # default: tests/bad_inputs/corpus

The suite (tests/bad_inputs/test_corpus.py) writes it into a temporary folder and runs every
command that reads a file of that kind on every case: each must end with one clear error
(exit status 2, no traceback), write nothing, and leave the input as it was. Every file is
made from a seed or by hand, so the corpus is the same each time.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
RNG_SEED = 1234


def _random_bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


class _RunsCode:
    def __reduce__(self):
        return (print, ("this would have run",))


# --------------------------------------------------------------------------- checkpoints (.pt)

def pt_empty(p: Path) -> None:
    p.write_bytes(b"")


def pt_random(p: Path) -> None:
    p.write_bytes(_random_bytes(4096, RNG_SEED))


def pt_text(p: Path) -> None:
    p.write_text("this is a text file, not a checkpoint\n")


def pt_code(p: Path) -> None:
    torch.save({"weights": _RunsCode()}, p)


def pt_module(p: Path) -> None:
    torch.save(torch.nn.Linear(4, 2), p)


def pt_state_dict(p: Path) -> None:
    torch.save(torch.nn.Linear(4, 2).state_dict(), p)


def _hr_gpn(width: int = 8) -> dict[str, torch.Tensor]:
    """A state dict with the GPN authors' key names (SNN_base_1 with GPN neurons, 4 inputs, 3 classes)."""
    return {"fc1.weight": torch.randn(width, 4), "fc1.bias": torch.randn(width),
            "sn1.ln.weight": torch.randn(4 * width, 2 * width), "sn1.ln.bias": torch.randn(4 * width),
            "fc2.weight": torch.randn(3, width), "fc2.bias": torch.randn(3)}


def pt_hr_missing_key(p: Path) -> None:
    torch.save({k: v for k, v in _hr_gpn().items() if k != "sn1.ln.bias"}, p)


def pt_hr_extra_key(p: Path) -> None:
    torch.save({**_hr_gpn(), "head.weight": torch.zeros(2, 2)}, p)


def pt_hr_misshapen(p: Path) -> None:
    torch.save({**_hr_gpn(), "fc2.bias": torch.zeros(5)}, p)


def pt_hr_nan(p: Path) -> None:
    sd = _hr_gpn()
    sd["fc1.weight"][0, 0] = float("nan")
    torch.save(sd, p)


def pt_unknown_layout(p: Path) -> None:
    torch.save({"encoder.weight": torch.zeros(3, 3), "decoder.weight": torch.zeros(3, 3)}, p)


def pt_truncated_zip(p: Path) -> None:
    torch.save({"a": torch.zeros(100)}, p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------------- NIR graphs (.nir)

def nir_empty(p: Path) -> None:
    p.write_bytes(b"")


def nir_random(p: Path) -> None:
    p.write_bytes(_random_bytes(4096, RNG_SEED + 1))


def nir_hdf5_not_nir(p: Path) -> None:
    with h5py.File(p, "w") as f:
        f["something"] = np.arange(3)


# --------------------------------------------------------------------------- spike data (.h5)

def _shd(p: Path, times, units, labels, drop: str | None = None) -> None:
    vlen_f = h5py.vlen_dtype(np.float32)
    vlen_u = h5py.vlen_dtype(np.uint16)
    with h5py.File(p, "w") as f:
        f.attrs["n_channels"] = 40
        spikes = f.create_group("spikes")
        if drop != "times":
            d = spikes.create_dataset("times", (len(times),), dtype=vlen_f)
            for i, t in enumerate(times):
                d[i] = np.asarray(t, np.float32)
        if drop != "units":
            d = spikes.create_dataset("units", (len(units),), dtype=vlen_u)
            for i, u in enumerate(units):
                d[i] = np.asarray(u, np.uint16)
        if drop != "labels":
            f["labels"] = np.asarray(labels)


GOOD_TIMES = [[0.01, 0.02, 0.3], [0.05, 0.2]]
GOOD_UNITS = [[1, 2, 3], [4, 5]]


def h5_empty(p: Path) -> None:
    p.write_bytes(b"")


def h5_random(p: Path) -> None:
    p.write_bytes(_random_bytes(4096, RNG_SEED + 2))


def h5_no_labels(p: Path) -> None:
    _shd(p, GOOD_TIMES, GOOD_UNITS, [0, 1], drop="labels")


def h5_no_samples(p: Path) -> None:
    _shd(p, [], [], np.zeros(0, np.int64))


def h5_unsorted_times(p: Path) -> None:
    _shd(p, [[0.3, 0.1]], [[1, 2]], [0])


def h5_negative_time(p: Path) -> None:
    _shd(p, [[-0.1, 0.1]], [[1, 2]], [0])


def h5_nan_time(p: Path) -> None:
    _shd(p, [[0.1, np.nan]], [[1, 2]], [0])


def h5_unit_out_of_range(p: Path) -> None:
    _shd(p, [[0.1, 0.2]], [[1, 4000]], [0])


def h5_length_mismatch(p: Path) -> None:
    _shd(p, [[0.1, 0.2]], [[1]], [0])


def h5_float_labels(p: Path) -> None:
    _shd(p, GOOD_TIMES, GOOD_UNITS, np.array([0.5, 1.0]))


def h5_negative_label(p: Path) -> None:
    _shd(p, GOOD_TIMES, GOOD_UNITS, [0, -3])


# --------------------------------------------------------------------------- Lava results (.npz)

def npz_empty(p: Path) -> None:
    p.write_bytes(b"")


def npz_random(p: Path) -> None:
    p.write_bytes(_random_bytes(4096, RNG_SEED + 3))


def npz_object_array(p: Path) -> None:
    with open(p, "wb") as fh:
        np.savez(fh, format=np.array([{"a": 1}], dtype=object), version=np.array(1))


def npz_one_array(p: Path) -> None:
    with open(p, "wb") as fh:
        np.save(fh, np.arange(3))


def npz_missing_keys(p: Path) -> None:
    with open(p, "wb") as fh:
        np.savez(fh, format=np.array("spikedeploy-lava-results"))


def npz_loihi2_no_arrays(p: Path) -> None:
    """A Loihi 2 network file's header, but the layers' arrays are missing."""
    import json

    header = {"format": "spikedeploy.loihi2_network", "version": 1, "input_size": 4, "chip": "loihi2",
              "metadata": {}, "layers": [{"kind": "pr-v2", "name": "h0"}, {"name": "readout"}]}
    with open(p, "wb") as fh:
        np.savez(fh, header=np.array(json.dumps(header)))


def npz_loihi2_bad_weights(p: Path) -> None:
    """A Loihi 2 network file whose pr-v2 weights are off Dense's grid (odd mixed-sign values)."""
    import json

    header = {"format": "spikedeploy.loihi2_network", "version": 1, "input_size": 2, "chip": "loihi2",
              "metadata": {}, "layers": [
                  {"kind": "pr-v2", "name": "h0", "wf_exp": 0, "wc_exp": 0, "uf_exp": 0, "uc_exp": 0, "level_exp": 4,
                   "bits": 6, "threshold": 0, "num_weight_bits": 8},
                  {"name": "readout", "weight_exp": 0, "num_weight_bits": 8, "bias_exp": 0, "spiking": False}]}
    w = np.array([[3, -3]], np.int32)
    arrays = {"layer0/wf": w, "layer0/wc": w, "layer0/uf": np.array([[2]], np.int32),
              "layer0/uc": np.array([[2]], np.int32), "layer0/bf": np.zeros(1, np.int64),
              "layer0/bc": np.zeros(1, np.int64), "layer1/weight": np.array([[2]], np.int32),
              "layer1/du": np.array([4095], np.int32), "layer1/dv": np.array([0], np.int32),
              "layer1/vth": np.array([131071], np.int32), "layer1/bias_mant": np.array([0], np.int32)}
    with open(p, "wb") as fh:
        np.savez(fh, header=np.array(json.dumps(header)), **arrays)


# --------------------------------------------------------------------------- audio (.wav)

def _wav(p: Path, rate: int, samples: np.ndarray, width: int = 2) -> None:
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def wav_empty(p: Path) -> None:
    p.write_bytes(b"")


def wav_text(p: Path) -> None:
    p.write_text("not audio\n")


def wav_1hz(p: Path) -> None:
    _wav(p, 1, np.zeros(100, "<i2"))


def wav_8bit(p: Path) -> None:
    _wav(p, 16000, np.full(1600, 128, np.uint8), width=1)


def wav_no_samples(p: Path) -> None:
    _wav(p, 16000, np.zeros(0, "<i2"))


def wav_truncated(p: Path) -> None:
    _wav(p, 16000, np.zeros(16000, "<i2"))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 10000])


# --------------------------------------------------------------------------- settings (.toml)

def toml_not_toml(p: Path) -> None:
    p.write_text("this = is = not toml\n")


def toml_seed_word(p: Path) -> None:
    p.write_text('seed = "zero"\n')


def toml_threads_word(p: Path) -> None:
    p.write_text('threads = "two"\n')


def toml_unknown_section(p: Path) -> None:
    p.write_text("[colour]\nred = 1\n")


def toml_zero_replicas(p: Path) -> None:
    p.write_text("[lava]\nreplicas = 0\n")


CASES: dict[str, Callable[[Path], None]] = {
    f"{name.split('_', 1)[1]}.{name.split('_', 1)[0]}": fn
    for name, fn in list(globals().items()) if callable(fn) and name.split("_", 1)[0] in
    ("pt", "nir", "h5", "npz", "wav", "toml") and not name.startswith("_")
}


def make_corpus(folder: Path) -> dict[str, Path]:
    """Write every case into ``folder``; return {file name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(RNG_SEED)
    out = {}
    for name, make in CASES.items():
        path = folder / name
        make(path)
        out[name] = path
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "corpus"
    for name in make_corpus(target):
        print(target / name)
