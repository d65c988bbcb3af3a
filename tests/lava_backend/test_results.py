"""The Lava results file: exact round trips, validation, and the source checks (no Lava needed)."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from spikedeploy.errors import ConfigError, DataFormatError, ResultsMismatchError, ShapeMismatchError
from spikedeploy.lava_backend.results import (FORMAT, META_KEYS, VERSION, LavaResults, file_sha256, indices_sha256,
                                              read_results, write_results)


def _meta(**changes):
    meta = {"model_path": "m.nir", "model_sha256": "a" * 64, "data_path": "test.h5", "data_sha256": "b" * 64,
            "sample_indices_sha256": indices_sha256([3, 5, 9]), "config": "fixed_pt", "replicas": 2,
            "gap_steps": 4, "n_steps": 6, "dt": 0.01,
            "binning": {"n_steps": 6, "duration": 0.06, "binary": True, "pool": 1, "n_channels": 4},
            "layer_names": ["hidden", "out"], "lava_version": "0.10.0", "wall_time_s": 1.5, "verified": True,
            "created": "2026-11-22T12:00:00+00:00", "spikedeploy_version": "0.1.0", "extra_field": [1, 2]}
    meta.update(changes)
    return meta


def _results(config="fixed_pt", voltage=True):
    rng = np.random.default_rng(0)
    readout = rng.integers(-1000, 1000, (3, 2)) if config == "fixed_pt" else rng.normal(size=(3, 2))
    volts = {"out": (rng.integers(-99, 99, (3, 6, 2)) if config == "fixed_pt" else rng.normal(size=(3, 6, 2)))} \
        if voltage else {}
    return LavaResults(meta=_meta(config=config), sample_indices=np.array([3, 5, 9]), labels=np.array([0, 1, 1]),
                       predictions=readout.argmax(1), readout=readout,
                       spikes={"hidden": rng.random((3, 6, 5)) < 0.3}, readout_voltage=volts)


@pytest.mark.parametrize("config", ["fixed_pt", "floating_pt"])
def test_round_trip_is_exact(tmp_path, config):
    res = _results(config)
    path = write_results(tmp_path / "r.npz", res)
    again = read_results(path)
    assert again.meta == res.meta and again.config == config
    for key in ("sample_indices", "labels", "predictions", "readout"):
        a, b = getattr(res, key), getattr(again, key)
        assert a.dtype == b.dtype and np.array_equal(a, b), key
    assert again.readout.dtype == (np.int64 if config == "fixed_pt" else np.float64)
    assert again.spikes["hidden"].dtype == bool and np.array_equal(again.spikes["hidden"], res.spikes["hidden"])
    assert np.array_equal(again.readout_voltage["out"], res.readout_voltage["out"])
    assert again.accuracy == pytest.approx(np.mean(res.predictions == [0, 1, 1]))
    assert again.firing_rates()["hidden"] == pytest.approx(res.spikes["hidden"].mean())
    # the raw keys are the documented ones
    with np.load(path, allow_pickle=False) as npz:
        assert str(npz["format"]) == FORMAT and int(npz["version"]) == VERSION == 1
        assert set(npz.files) == {"format", "version", "meta_json", "sample_indices", "labels", "predictions",
                                  "readout", "spikes__hidden", "readout_v__out"}
        assert set(META_KEYS) <= set(json.loads(str(npz["meta_json"])))


def test_output_name_without_npz_suffix_and_no_leftovers(tmp_path):
    path = write_results(tmp_path / "results", _results(voltage=False))
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert read_results(path).readout_voltage == {}


def test_hashes_are_the_documented_ones(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"spikedeploy")
    assert file_sha256(f) == hashlib.sha256(b"spikedeploy").hexdigest()
    assert indices_sha256([1, 2]) == hashlib.sha256(np.array([1, 2], dtype="<i8").tobytes()).hexdigest()


def test_check_source_names_the_field_that_differs(tmp_path):
    model, data = tmp_path / "m.nir", tmp_path / "d.h5"
    model.write_bytes(b"model")
    data.write_bytes(b"data")
    res = LavaResults(meta=_meta(model_sha256=file_sha256(model), data_sha256=file_sha256(data)),
                      sample_indices=[3, 5, 9], labels=[0, 1, 1], predictions=[0, 0, 1], readout=np.zeros((3, 2), int))
    res.check_source(model_path=model, data_path=data, sample_indices=[3, 5, 9])   # no error
    data.write_bytes(b"other data")
    with pytest.raises(ResultsMismatchError) as info:
        res.check_source(model_path=model, data_path=data, path="r.npz")
    assert info.value.field == "data_sha256" and "different model or data" in str(info.value)
    with pytest.raises(ResultsMismatchError, match="sample_indices_sha256"):
        res.check_source(sample_indices=[3, 5])


def test_invalid_contents_are_refused():
    ok = dict(sample_indices=[0, 1], labels=[0, 1], predictions=[0, 1], readout=np.zeros((2, 2), int))
    with pytest.raises(ConfigError, match="missing keys"):
        LavaResults(meta={"config": "fixed_pt"}, **ok)
    with pytest.raises(ConfigError, match="unknown configuration"):
        LavaResults(meta=_meta(config="analog"), **ok)
    with pytest.raises(ShapeMismatchError):
        LavaResults(meta=_meta(), **{**ok, "labels": [0, 1, 2]})
    with pytest.raises(ConfigError, match="holds integers"):
        LavaResults(meta=_meta(), **{**ok, "readout": np.full((2, 2), 0.5)})
    with pytest.raises(ShapeMismatchError):   # spikes must be [N, T, n] with T = n_steps
        LavaResults(meta=_meta(), **ok, spikes={"hidden": np.zeros((2, 5, 3), bool)})
    with pytest.raises(ConfigError, match="not in layer_names"):
        LavaResults(meta=_meta(), **ok, spikes={"ghost": np.zeros((2, 6, 3), bool)})
    with pytest.raises(ConfigError, match="0 or 1"):
        LavaResults(meta=_meta(), **ok, spikes={"hidden": np.full((2, 6, 3), 2)})
    with pytest.raises(ConfigError, match="plain JSON"):
        LavaResults(meta=_meta(wall_time_s=float("nan")), **ok)


def test_bad_files_raise_data_format_errors(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_results(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(DataFormatError, match="not a .npz"):
        read_results(junk)
    res = _results()
    path = write_results(tmp_path / "r.npz", res)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**arrays, "version": np.array(VERSION + 1)})
    with pytest.raises(DataFormatError, match="newer") as info:
        read_results(newer)
    assert info.value.field == "version"
    other = tmp_path / "other.npz"
    np.savez(other, **{**arrays, "format": np.array("something-else")})
    with pytest.raises(DataFormatError, match="format"):
        read_results(other)
    missing = tmp_path / "missing_key.npz"
    np.savez(missing, **{k: v for k, v in arrays.items() if k != "predictions"})
    with pytest.raises(DataFormatError) as info:
        read_results(missing)
    assert info.value.field == "predictions"
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{**arrays, "labels": np.array([0, 1])})
    with pytest.raises(DataFormatError, match="inconsistent"):
        read_results(broken)


def test_results_module_imports_without_lava():
    code = ("import sys, spikedeploy.lava_backend.results, spikedeploy.lava_backend.mapping; "
            "print(any(m == 'lava' or m.startswith('lava.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
