"""Every command that reads a file, on every bad file of that kind (tests/bad_inputs/make_corpus.py):
one clear error (exit status 2, a ``spikedeploy: error:`` line, no traceback), nothing written,
the input left as it was."""

import hashlib
import shutil
from pathlib import Path

import pytest

from spikedeploy.cli import main

from ..stages.compare_setup import emulator_results, make_case
from .make_corpus import CASES, make_corpus

#: Per kind of file: the commands that read one ({bad}: the corpus file, {bad_dir}: a data folder
#: whose train.h5 is the corpus file, {out}: an empty folder that must stay empty).
COMMANDS = {
    "pt": [["export-nir", "{bad}", "-o", "{out}/x.nir"],
           ["quantize", "{bad}", "--data", "{data}"],
           ["fold", "{bad}", "--data", "{data}", "-o", "{out}/f.pt", "--no-progress"],
           ["compare", "{bad}", "--lava-results", "{results}", "-o", "{out}/report", "--no-progress"],
           ["convert", "{bad}", "--from", "hr-gpn-snn", "--time-steps", "20", "-o", "{out}/c.pt"],
           ["export-nir", "{bad}", "--from", "hr-gpn-snn", "--time-steps", "20", "-o", "{out}/y.nir"]],
    "nir": [["lava-run", "{bad}", "--data", "{data}", "--out", "{out}/r.npz", "--no-progress"],
            ["map", "{bad}", "--json", "{out}/m.json"]],
    "h5": [["data", "info", "{bad}"],
           ["lava-run", "{nir}", "--data", "{bad}", "--out", "{out}/r.npz", "--no-progress"],
           ["train", "--preset", "lif-shd", "--data", "{bad_dir}", "--out", "{out}/t.pt", "--epochs", "1",
            "--no-progress"],
           ["export-nir", "{ckpt}", "--quantized", "--data", "{bad_dir}", "-o", "{out}/x.nir"]],
    "npz": [["compare", "{ckpt}", "--lava-results", "{bad}", "-o", "{out}/report", "--no-progress"],
            ["lava-run", "{bad}", "--data", "{data}", "--no-progress"],                 # a Loihi 2 network file
            ["map", "{bad}", "--json", "{out}/m.json"],
            ["fold", "{bad}", "--data", "{data}", "--target", "loihi1", "-o", "{out}/f.pt", "--no-progress"]],
    "wav": [["data", "encode-audio", "{bad}", "-o", "{out}/a.h5"]],
    "toml": [["pipeline", "--config", "{bad}", "--out", "{out}/p"],
             ["train", "--config", "{bad}", "--data", "{data}", "--out", "{out}/t.pt", "--no-progress"]],
}
RUNS = [(name, i) for name in CASES for i in range(len(COMMANDS[name.rsplit(".", 1)[1]]))]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    case = make_case(folder / "case")
    case["results"] = emulator_results(case, folder / "case" / "results.npz")
    return case


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("corpus"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name, which", RUNS, ids=[f"{n}-{i}" for n, i in RUNS])
def test_a_bad_file_gets_one_clear_error_and_nothing_is_written(good, corpus, name, which, tmp_path, capsys):
    bad = corpus[name]
    kind = name.rsplit(".", 1)[1]
    bad_dir = tmp_path / "data"
    bad_dir.mkdir()
    shutil.copy(bad, bad_dir / "train.h5")
    shutil.copy(good["data_dir"] / "test.h5", bad_dir / "test.h5")
    out = tmp_path / "out"
    out.mkdir()
    values = {"bad": bad, "bad_dir": bad_dir, "out": out, "data": good["data_dir"], "results": good["results"],
              "nir": good["nir"], "ckpt": good["ckpt"]}
    argv = [part.format(**{k: str(v) for k, v in values.items()}) for part in COMMANDS[kind][which]]
    before = _digest(bad)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("spikedeploy: error: ") and "Traceback" not in err
    assert list(out.iterdir()) == []
    assert _digest(bad) == before
