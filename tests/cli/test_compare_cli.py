"""``spikedeploy compare`` and ``spikedeploy pipeline`` through ``spikedeploy.cli.main``."""

import json

import pytest

from spikedeploy.cli import main

from ..stages.compare_setup import compared, emulator_results, make_case


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    c = make_case(tmp_path_factory.mktemp("cli_case"))
    c["results"] = emulator_results(c, c["folder"] / "results.npz")
    return c


def test_compare_writes_the_report_and_prints_where(case, tmp_path, capsys):
    out = tmp_path / "rep"
    argv = ["compare", str(case["ckpt"]), "--data", str(case["test"]), "--lava-results", str(case["results"]),
            "-o", str(out), "--no-progress", "--chip", "loihi1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'report.md'}" in text
    assert "Lava equals the emulator exactly: spikes of hidden0, predictions" in text
    assert "not measured: no NVIDIA GPU" in text
    data = json.loads((out / "comparison.json").read_text())
    ref = compared(case["ckpt"], case["results"])
    assert data["accuracy"] == {k: r.accuracy for k, r in ref.runs.items()}
    assert data["config"]["chips"] == ["loihi1"] and "loihi2" not in data["energy"]
    assert data["command"].startswith("spikedeploy ")
    md = (out / "report.md").read_text()
    assert "loihi1" in md and "## Assumptions" in md


def test_compare_refuses_results_of_other_data(case, capsys):
    argv = ["compare", str(case["ckpt"]), "--data", str(case["data_dir"] / "train.h5"),
            "--lava-results", str(case["results"]), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "data_sha256" in err and "different model or data set" in err and "remedy" in err


def test_compare_lists_the_known_chips(case, capsys):
    argv = ["compare", str(case["ckpt"]), "--lava-results", str(case["results"]), "--chip", "loihi9"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown chip 'loihi9'" in err and "loihi1" in err and "loihi2" in err


def test_compare_without_results_file(case, tmp_path, capsys):
    argv = ["compare", str(case["ckpt"]), "--lava-results", str(tmp_path / "none.npz")]
    assert main(argv) == 2
    assert "none.npz" in capsys.readouterr().err


def test_pipeline_refuses_a_bad_config(tmp_path, capsys):
    cfg = tmp_path / "p.toml"
    cfg.write_text('[lava]\nreplica = 4\n')
    assert main(["pipeline", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "replica" in err and "replicas" in err
    assert not (tmp_path / "o").exists()


def test_pipeline_on_a_given_data_folder_until_export(case, tmp_path, capsys):
    """`spikedeploy pipeline --config` on an existing SHD-format folder (the toy data), stopped
    after the export stage; the second call reuses both stages."""
    cfg = tmp_path / "p.toml"
    cfg.write_text(f"""
[data]
dir = "{case['data_dir']}"
[binning]
n_steps = 10
duration = 0.5
[[models]]
name = "tiny"
preset = "lif-ff-shd"
hidden = [8]
epochs = 1
[models.model]
input_size = 40
n_classes = 4
learn_decays = false
learn_thresholds = false
[quant]
calib_samples = 20
allow_approx = true
[baselines]
cells = ["gru"]
""")
    out = tmp_path / "run"
    argv = ["pipeline", "--config", str(cfg), "--out", str(out), "--until", "export", "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "[1/4] data: " in text and "[2/4] train:tiny ..." in text and "[3/4] baselines: done in" in text
    assert "[4/4] export:tiny: done in" in text
    assert f"(3 stages ran, 0 reused); artefacts in {out}" in text
    assert (out / "checkpoints" / "tiny.pt").is_file() and (out / "nir" / "tiny.nir").is_file()
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "[2/4] train:tiny: reused" in text and "(0 stages ran, 3 reused)" in text
    manifest = json.loads((out / "pipeline.json").read_text())
    assert set(manifest["stages"]) == {"train:tiny", "baselines", "export:tiny"}
    assert manifest["stages"]["baselines"]["info"]["accuracy"].keys() == {"gru"}
    assert manifest["config"]["data"]["dir"] == str(case["data_dir"])
