import nir
import numpy as np
import pytest

from spikedeploy.errors import ConfigError
from spikedeploy.nir_io import metadata_codec as mc


def _through_nir(meta, tmp_path):
    g = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2, dtype=np.float32)))
    g.metadata = mc.encode(meta)
    nir.write(tmp_path / "m.nir", g)
    return mc.decode(nir.read(tmp_path / "m.nir").metadata)


def test_round_trip_through_nir_write_and_read(tmp_path):
    meta = {
        "str": "abc", "tagged": "json:looks tagged", "int": -7, "big": 2 ** 70, "float": 0.1, "bool": True,
        "none": None, "inf": float("inf"), "list": [1, "a", None, 2.5], "tuple": (1, 2),
        "nested": {"metadata": {}, "~x": 1, "~list": 2, "deep": {"a": np.arange(6, dtype=np.int16).reshape(2, 3)}},
        "layers": [{"w": np.array([[-128, 127]], np.int8), "e": 3}, {"w": np.zeros((1, 2), np.int8), "e": -1}],
        "u64": np.array([2 ** 63 + 5], np.uint64), "f32": np.array([0.1, np.nan], np.float32),
        "scalar32": np.float32(0.1), "zero_d": np.array(5, np.int32), "empty": np.zeros((0, 3), np.float64),
        "unicode": np.array(["a", "bc"]),
    }
    back = _through_nir(meta, tmp_path)
    assert back.keys() == meta.keys()
    for k in ("str", "tagged", "int", "big", "float", "bool", "none", "inf", "list"):
        assert back[k] == meta[k] and type(back[k]) is type(meta[k]), k
    assert back["tuple"] == [1, 2]
    assert back["nested"]["metadata"] == {} and back["nested"]["~x"] == 1 and back["nested"]["~list"] == 2
    d = back["nested"]["deep"]["a"]
    assert d.dtype == np.int16 and d.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert [l["e"] for l in back["layers"]] == [3, -1]
    assert back["layers"][0]["w"].dtype == np.int8 and back["layers"][0]["w"].tolist() == [[-128, 127]]
    assert back["u64"].dtype == np.uint64 and int(back["u64"][0]) == 2 ** 63 + 5
    f32 = back["f32"]
    assert f32.dtype == np.float32 and f32[0] == np.float32(0.1) and np.isnan(f32[1])
    assert back["scalar32"].dtype == np.float32 and back["scalar32"].shape == () and back["scalar32"] == np.float32(0.1)
    assert back["zero_d"].dtype == np.int32 and int(back["zero_d"]) == 5
    assert back["empty"].shape == (0, 3) and back["empty"].dtype == np.float64
    assert back["unicode"].tolist() == ["a", "bc"]


def test_foreign_metadata_is_read_as_it_comes():
    assert mc.decode({"dt": np.float64(1e-4), "n": np.int64(3), "flag": np.bool_(True), "name": b"x"}) == \
        {"dt": 1e-4, "n": 3, "flag": True, "name": "x"}


def test_unstorable_values_are_refused_with_the_key():
    with pytest.raises(ConfigError, match=r"metadata\.a\.b: cannot store a value of type object"):
        mc.encode({"a": {"b": object()}})
    with pytest.raises(ConfigError, match="keys must be strings"):
        mc.encode({"a": [{1: 2}]})
    with pytest.raises(ConfigError, match="contains '/'"):
        mc.encode({"a/b": 1})
